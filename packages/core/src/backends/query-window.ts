import { OptionError, ShapeError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import type { RecentQueries } from '../store.js';
import { checkHead } from './store-checks.js';

/**
 * The last `rows` query rows of every layer, oldest first, each with its position: what decode-time
 * eviction scores a CPU store's entries with. A ring per layer: recording a step copies one row.
 */
export class QueryWindow {
  private rows = 0;
  private queries: Float32Array[] = [];
  private positions: Int32Array[] = [];
  private counts: Int32Array;
  private next: Int32Array;
  /** The newest position appended to each layer: the position of the query that attends next. */
  private readonly newest: Int32Array;

  constructor(private readonly geometry: CacheGeometry) {
    this.counts = new Int32Array(geometry.layers);
    this.next = new Int32Array(geometry.layers);
    this.newest = new Int32Array(geometry.layers).fill(-1);
  }

  /** Notes what a store appended to `layer`: the query that attends next sits at the newest of these positions. */
  appended(layer: number, positions: Int32Array): void {
    if (positions.length === 0) return;
    let newest = positions[0]!;
    for (let i = 1; i < positions.length; i++) if (positions[i]! > newest) newest = positions[i]!;
    this.newest[layer] = newest;
  }

  /** Records the queries a store attended `layer` with, at the layer's newest position. */
  attended(layer: number, queries: Float32Array): void {
    this.record(layer, queries, this.newest[layer]!);
  }

  get capacity(): number {
    return this.rows;
  }

  /** Keeps the last `rows` rows per layer from now on (0 stops and frees them); forgets what was kept. */
  resize(rows: number): void {
    if (!Number.isInteger(rows) || rows < 0) throw new OptionError(`recordQueries: rows must be a whole number >= 0, got ${rows}.`);
    const { layers, queryHeads, headDim } = this.geometry;
    this.rows = rows;
    this.queries = rows === 0 ? [] : Array.from({ length: layers }, () => new Float32Array(rows * queryHeads * headDim));
    this.positions = rows === 0 ? [] : Array.from({ length: layers }, () => new Int32Array(rows));
    this.counts.fill(0);
    this.next.fill(0);
  }

  /** Records one step's queries `[queryHeads][headDim]` at `position` (a no-op when not recording). */
  record(layer: number, queries: Float32Array, position: number): void {
    if (this.rows === 0) return;
    const size = this.geometry.queryHeads * this.geometry.headDim;
    const slot = this.next[layer]!;
    this.queries[layer]!.set(queries.subarray(0, size), slot * size);
    this.positions[layer]![slot] = position;
    this.next[layer] = (slot + 1) % this.rows;
    this.counts[layer] = Math.min(this.rows, this.counts[layer]! + 1);
  }

  /** Records prompt rows `[n][queryHeads][headDim]` (only the last `rows` stay). */
  seed(layer: number, queries: Float32Array, positions: Int32Array): void {
    checkHead(this.geometry, layer, 0);
    const size = this.geometry.queryHeads * this.geometry.headDim;
    if (queries.length !== positions.length * size) {
      throw new ShapeError(`seedQueries: expected ${positions.length} rows of ${size} floats, got ${queries.length} floats.`);
    }
    for (let t = Math.max(0, positions.length - this.rows); t < positions.length; t++) {
      this.record(layer, queries.subarray(t * size, (t + 1) * size), positions[t]!);
    }
  }

  /** The kept rows of `layer`, oldest first (copies). */
  recent(layer: number): RecentQueries {
    checkHead(this.geometry, layer, 0);
    const size = this.geometry.queryHeads * this.geometry.headDim;
    const count = this.counts[layer] ?? 0;
    const queries = new Float32Array(count * size);
    const positions = new Int32Array(count);
    const first = (this.next[layer]! - count + this.rows) % Math.max(1, this.rows);
    for (let i = 0; i < count; i++) {
      const slot = (first + i) % this.rows;
      queries.set(this.queries[layer]!.subarray(slot * size, (slot + 1) * size), i * size);
      positions[i] = this.positions[layer]![slot]!;
    }
    return { queries, positions };
  }
}

/** The query recording of the CPU stores: a {@link QueryWindow} behind the `KvStore` methods. */
export abstract class RecordsQueriesOnCpu {
  protected abstract readonly queryWindow: QueryWindow;

  recordQueries(rows: number): void {
    this.queryWindow.resize(rows);
  }

  seedQueries(layer: number, queries: Float32Array, positions: Int32Array): void {
    this.queryWindow.seed(layer, queries, positions);
  }

  async recentQueries(layer: number): Promise<RecentQueries> {
    return this.queryWindow.recent(layer);
  }
}
