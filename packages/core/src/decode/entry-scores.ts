import type { CacheGeometry } from '../geometry.js';

/**
 * A running score per cached entry, kept beside a store (the cumulative metrics of H2O and
 * KV-Compress): per (layer, KV head) the positions of the entries it knows and their sums. Entries are
 * matched by their original position, which is unique within a head, so the sums follow any
 * compaction: an entry keeps its sum while it stays, an evicted one is forgotten, a new one starts at 0.
 */
export class EntryScores {
  private readonly positions: Int32Array[];
  private readonly sums: Float64Array[];

  /** The cache shape: one list of sums per (layer, KV head). */
  readonly geometry: CacheGeometry;

  constructor(geometry: CacheGeometry) {
    this.geometry = geometry;
    const heads = geometry.layers * geometry.kvHeads;
    this.positions = Array.from({ length: heads }, () => new Int32Array(0));
    this.sums = Array.from({ length: heads }, () => new Float64Array(0));
  }

  /**
   * Aligns one head's sums with the entries it holds now (`positions`, in storage order) and returns
   * them in that order: sums of entries still present, 0 for new ones.
   */
  sync(layer: number, head: number, positions: Int32Array): Float64Array {
    const slot = layer * this.geometry.kvHeads + head;
    const known = this.positions[slot]!;
    const sums = this.sums[slot]!;
    if (known.length === positions.length && known.every((p, i) => p === positions[i])) return sums;
    const index = new Map<number, number>();
    known.forEach((p, i) => index.set(p, i));
    const next = Float64Array.from(positions, (p) => {
      const i = index.get(p);
      return i === undefined ? 0 : sums[i]!;
    });
    this.positions[slot] = Int32Array.from(positions);
    this.sums[slot] = next;
    return next;
  }

  /** Adds `scores` (one per entry, in the storage order of `positions`) to one head's sums. */
  add(layer: number, head: number, positions: Int32Array, scores: ArrayLike<number>): void {
    const sums = this.sync(layer, head, positions);
    for (let i = 0; i < sums.length; i++) sums[i]! += scores[i]!;
  }

  /** Forgets every sum (a new sequence). */
  clear(): void {
    this.positions.fill(new Int32Array(0));
    this.sums.fill(new Float64Array(0));
  }
}
