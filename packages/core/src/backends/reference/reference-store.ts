import { type CacheGeometry, groupSize, validateGeometry } from '../../geometry.js';
import type { KvStore } from '../../store.js';
import { QueryWindow, RecordsQueriesOnCpu } from '../query-window.js';
import { appendedPosition, checkAppend, checkAttend, checkHead, checkPlan } from '../store-checks.js';

interface HeadRows {
  keys: number[][];
  values: number[][];
  positions: number[];
}

/**
 * The reference store: plain arrays per (layer, KV head), obviously correct, the twin every fast
 * store is checked against. Not fast and not compact.
 */
export class ReferenceStore extends RecordsQueriesOnCpu implements KvStore {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  private readonly heads: HeadRows[][];
  /** The recent query rows of each layer (for decode-time eviction). */
  protected readonly queryWindow: QueryWindow;

  constructor(geometry: CacheGeometry) {
    super();
    this.geometry = validateGeometry(geometry);
    this.queryWindow = new QueryWindow(geometry);
    this.heads = Array.from({ length: geometry.layers }, () =>
      Array.from({ length: geometry.kvHeads }, () => ({ keys: [], values: [], positions: [] })),
    );
  }

  length(layer: number, head: number): number {
    return this.head(layer, head).positions.length;
  }

  positions(layer: number, head: number): Int32Array {
    return Int32Array.from(this.head(layer, head).positions);
  }

  async keys(layer: number, head: number): Promise<Float32Array> {
    return Float32Array.from(this.head(layer, head).keys.flat());
  }

  async values(layer: number, head: number): Promise<Float32Array> {
    return Float32Array.from(this.head(layer, head).values.flat());
  }

  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    const tokens = checkAppend(this.geometry, layer, keys, values, positions);
    const { kvHeads, headDim } = this.geometry;
    for (let h = 0; h < kvHeads; h++) {
      const rows = this.head(layer, h);
      for (let t = 0; t < tokens; t++) {
        const start = (t * kvHeads + h) * headDim;
        rows.keys.push(Array.from(keys.subarray(start, start + headDim)));
        rows.values.push(Array.from(values.subarray(start, start + headDim)));
        rows.positions.push(appendedPosition(positions, tokens, t, h));
      }
    }
    this.queryWindow.appended(layer, positions);
  }

  compact(layer: number, kept: readonly Int32Array[]): void {
    checkPlan(this.geometry, layer, kept, (head) => this.length(layer, head));
    for (let h = 0; h < this.geometry.kvHeads; h++) {
      const rows = this.head(layer, h);
      const indices = Array.from(kept[h]!);
      rows.keys = indices.map((i) => rows.keys[i]!);
      rows.values = indices.map((i) => rows.values[i]!);
      rows.positions = indices.map((i) => rows.positions[i]!);
    }
  }

  async attend(layer: number, queries: Float32Array, out: Float32Array): Promise<void> {
    checkAttend(this.geometry, layer, queries, out);
    const { queryHeads, headDim } = this.geometry;
    const group = groupSize(this.geometry);
    const scale = 1 / Math.sqrt(headDim);
    for (let q = 0; q < queryHeads; q++) {
      const rows = this.head(layer, Math.floor(q / group));
      const query = queries.subarray(q * headDim, (q + 1) * headDim);
      const logits = rows.keys.map((key) => {
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += query[i]! * key[i]!;
        return dot * scale;
      });
      const max = Math.max(...logits);
      const weights = logits.map((logit) => Math.exp(logit - max));
      const total = weights.reduce((a, b) => a + b, 0);
      for (let i = 0; i < headDim; i++) {
        let acc = 0;
        for (let r = 0; r < weights.length; r++) acc += weights[r]! * rows.values[r]![i]!;
        out[q * headDim + i] = weights.length === 0 ? 0 : acc / total;
      }
    }
    this.queryWindow.attended(layer, queries);
  }

  bytes(): number {
    let rows = 0;
    for (const layer of this.heads) for (const head of layer) rows += head.positions.length;
    return rows * this.geometry.headDim * 2 * Float32Array.BYTES_PER_ELEMENT;
  }

  dispose(): void {
    for (const layer of this.heads) for (const head of layer) {
      head.keys = [];
      head.values = [];
      head.positions = [];
    }
  }

  private head(layer: number, head: number): HeadRows {
    checkHead(this.geometry, layer, head);
    return this.heads[layer]![head]!;
  }
}
