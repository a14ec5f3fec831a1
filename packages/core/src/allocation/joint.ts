import { OptionError } from '../errors.js';

/** One (layer, KV head) of a sequence, as the joint eviction sees it. */
export interface JointHead {
  /**
   * The metric of each evictable entry, in storage order: entries `[0, scores.length)`; the rest of the
   * head (its protected recent window) is never evicted. Lower = evicted first.
   */
  readonly scores: ArrayLike<number>;
  /** Entries the head holds, protected ones included (its block count follows from it). */
  readonly length: number;
}

/** The target, the block size and the per-compression limit of a {@link jointEviction}. */
export interface JointEvictionLimits {
  /** Most entries the sequence may hold afterwards, over all its heads (window included). */
  readonly target: number;
  /** Entries per block: each head gives back whole blocks (1 = token-level, no rounding). */
  readonly blockSize: number;
  /** Most entries evicted by this compression (0 or absent: no limit). */
  readonly maxEvict?: number;
}

/** What a {@link jointEviction} decided. */
export interface JointEvictionResult {
  /** Per head (in the order given): indices of its evicted entries, ascending. */
  readonly evicted: Int32Array[];
  /** Entries evicted over all heads. */
  readonly evictedEntries: number;
  /** Blocks freed: one per block-sized share of a head given back (see {@link jointEviction}). */
  readonly freedBlocks: number;
}

/**
 * KV-Compress's eviction across a whole sequence (Rehg, 2024, arXiv 2410.00161): one sort of every
 * evictable entry of every layer and KV head by its metric, walked from the lowest, so layers and
 * heads end with different sizes. Counts are rounded to whole blocks: a head gives back its last
 * (possibly partial) block first — `((length - 1) mod blockSize) + 1` entries — then `blockSize` at a
 * time, so it always ends on a block boundary and frees exactly one block per share. Entries the walk
 * passes in a head without completing a share stay. The walk stops as soon as the sequence holds at
 * most `target` entries (so it meets its target, overshooting by less than a block), when the next
 * share would take the compression past `maxEvict`, or when no share can be completed (a head's
 * protected window is never touched). With `blockSize` 1 it evicts exactly the globally lowest
 * `total - target` entries.
 *
 * Order of the sort (ties): lower metric first; then lower head index in the order given (the
 * planners give layer-major order: lower layer, then lower KV head), then the older entry (lower index).
 */
export function jointEviction(heads: readonly JointHead[], limits: JointEvictionLimits): JointEvictionResult {
  const { target, blockSize } = limits;
  const maxEvict = limits.maxEvict && limits.maxEvict > 0 ? limits.maxEvict : Infinity;
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new OptionError(`blockSize must be a whole number >= 1, got ${blockSize}.`);
  const total = heads.reduce((sum, h) => sum + h.length, 0);
  const evictedCount = new Int32Array(heads.length);
  const empty = () => ({ evicted: heads.map(() => new Int32Array(0)), evictedEntries: 0, freedBlocks: 0 });
  if (total <= target) return empty();

  let entries = 0;
  heads.forEach((h) => (entries += h.scores.length));
  const headOf = new Int32Array(entries);
  const indexOf = new Int32Array(entries);
  const metric = new Float64Array(entries);
  let e = 0;
  heads.forEach((h, head) => {
    for (let t = 0; t < h.scores.length; t++, e++) {
      headOf[e] = head;
      indexOf[e] = t;
      metric[e] = h.scores[t]!;
    }
  });
  const order = Int32Array.from({ length: entries }, (_, i) => i);
  order.sort((a, b) => metric[a]! - metric[b]! || headOf[a]! - headOf[b]! || indexOf[a]! - indexOf[b]!);

  const need = Int32Array.from(heads, (h) => ((h.length - 1) % blockSize) + 1); // the last block's entries first
  const progress = new Int32Array(heads.length);
  let evictedEntries = 0;
  let freedBlocks = 0;
  for (let i = 0; i < entries && total - evictedEntries > target; i++) {
    const head = headOf[order[i]!]!;
    progress[head]!++;
    if (progress[head]! < need[head]!) continue;
    if (evictedEntries + need[head]! > maxEvict) break;
    evictedEntries += need[head]!;
    evictedCount[head]! += need[head]!;
    freedBlocks++;
    progress[head] = 0;
    need[head] = blockSize;
  }
  if (evictedEntries === 0) return empty();
  // each head's evicted entries are its first evictedCount[head] in the walk's order: its lowest
  const evicted = heads.map((_, head) => new Int32Array(evictedCount[head]!));
  const filled = new Int32Array(heads.length);
  for (let i = 0; i < entries; i++) {
    const entry = order[i]!;
    const head = headOf[entry]!;
    if (filled[head]! < evictedCount[head]!) evicted[head]![filled[head]!++] = indexOf[entry]!;
  }
  for (const list of evicted) list.sort();
  return { evicted, evictedEntries, freedBlocks };
}

/**
 * The entries a head keeps when its lowest `length - protected - keep` selectable entries go, in the
 * joint eviction's order (lower metric first, then the older entry): ascending indices of the kept
 * selectable entries (the protected tail is added by the caller).
 */
export function jointKeptIndices(scores: ArrayLike<number>, keep: number): Int32Array {
  const count = scores.length;
  const drop = Math.max(0, count - Math.max(0, keep));
  const order = Int32Array.from({ length: count }, (_, i) => i);
  order.sort((a, b) => scores[a]! - scores[b]! || a - b);
  return order.subarray(drop).sort();
}
