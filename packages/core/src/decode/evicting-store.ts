import { planLayer } from '../allocation/plan-layer.js';
import { BudgetError, OptionError, ShapeError } from '../errors.js';
import { type CacheGeometry, groupSize } from '../geometry.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { Method, MethodOptions } from '../methods/types.js';
import type { LayerObservation } from '../model/observation.js';
import type { HeadContext } from '../scorers/types.js';
import type { KvStore } from '../store.js';

export interface DecodeEvictionOptions {
  /** The method whose scorer and head allocation re-score the cache (e.g. `ada-snapkv`). */
  readonly method: string | Method;
  /**
   * Most entries a layer may hold per KV head on average, recent window included; or a function of
   * the tokens the sequence has seen so far (e.g. `(seen) => Math.ceil(seen / 4)` for 4x compression),
   * never taken below `window + every`.
   */
  readonly maxTokensPerHead: number | ((seen: number) => number);
  /**
   * Decode steps between evictions (default 16): each eviction brings a layer down to
   * `maxTokensPerHead - every` per head, so it grows back to the maximum in `every` steps.
   */
  readonly every?: number;
  /** Method options; `window` is the protected recent window and the number of queries kept for scoring. */
  readonly options?: Partial<MethodOptions>;
}

interface RecentQueries {
  /** `[rows][queryHeads][headDim]`, oldest first. */
  rows: Float32Array[];
  positions: number[];
}

/**
 * Decode-time eviction (as KV-Compress and kvpress's DecodingPress do): a store wrapper that keeps
 * the last `window` decode queries of each layer and, whenever a layer would pass `maxTokensPerHead`
 * entries per head on average, re-scores its entries with the method and evicts across heads. The
 * `window` most recent entries of every head are never evicted. Works with any store and runner.
 */
export class EvictingStore implements KvStore {
  readonly geometry: CacheGeometry;
  private readonly method: Method;
  private readonly options: MethodOptions;
  private readonly maxTokensPerHead: number | ((seen: number) => number);
  private readonly every: number;
  private readonly recent: RecentQueries[];
  private readonly lastPosition: Int32Array;
  /** Entries evicted so far, over all layers and heads. */
  evictedTokens = 0;
  /** Evictions run so far (one per layer each time). */
  evictions = 0;

  constructor(
    readonly inner: KvStore,
    eviction: DecodeEvictionOptions,
  ) {
    this.geometry = inner.geometry;
    this.method = typeof eviction.method === 'string' ? getMethod(eviction.method) : eviction.method;
    if (this.method.scorer === null) {
      throw new OptionError(`Decode-time eviction needs a method that scores entries; "${this.method.name}" keeps everything.`);
    }
    this.options = resolveMethodOptions(this.method, eviction.options);
    this.every = eviction.every ?? 16;
    this.maxTokensPerHead = eviction.maxTokensPerHead;
    if (!Number.isInteger(this.every) || this.every < 1) {
      throw new OptionError(`every must be a whole number of decode steps >= 1, got ${this.every}.`);
    }
    const fixed = this.maxTokensPerHead;
    if (typeof fixed === 'number' && (!Number.isInteger(fixed) || fixed - this.every < this.options.window)) {
      throw new BudgetError(
        `maxTokensPerHead (${this.maxTokensPerHead}) must be a whole number of at least window + every ` +
          `(${this.options.window} + ${this.every}) so the protected recent window fits after an eviction.`,
      );
    }
    this.recent = Array.from({ length: this.geometry.layers }, () => ({ rows: [], positions: [] }));
    this.lastPosition = new Int32Array(this.geometry.layers).fill(-1);
  }

  /**
   * Call after prefill: seeds the scoring queries with the last `window` prompt queries, and brings
   * any layer the prompt already filled past the target down to it.
   */
  async observe(observations: readonly LayerObservation[]): Promise<void> {
    const { queryHeads, headDim } = this.geometry;
    const rowSize = queryHeads * headDim;
    observations.forEach((observation, layer) => {
      const n = observation.queries.length / rowSize;
      for (let t = Math.max(0, n - this.options.window); t < n; t++) {
        this.remember(layer, observation.queries.slice(t * rowSize, (t + 1) * rowSize), t);
      }
    });
    for (let layer = 0; layer < this.geometry.layers; layer++) await this.evictIfFull(layer);
  }

  length(layer: number, head: number): number {
    return this.inner.length(layer, head);
  }

  positions(layer: number, head: number): Int32Array {
    return this.inner.positions(layer, head);
  }

  keys(layer: number, head: number): Promise<Float32Array> {
    return this.inner.keys(layer, head);
  }

  values(layer: number, head: number): Promise<Float32Array> {
    return this.inner.values(layer, head);
  }

  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    this.inner.append(layer, keys, values, positions);
    if (positions.length > 0) this.lastPosition[layer] = Math.max(this.lastPosition[layer]!, ...positions);
  }

  compact(layer: number, kept: readonly Int32Array[]): void {
    this.inner.compact(layer, kept);
  }

  async attend(layer: number, queries: Float32Array, out: Float32Array): Promise<void> {
    await this.inner.attend(layer, queries, out);
    this.remember(layer, queries.slice(), this.lastPosition[layer]!);
    await this.evictIfFull(layer);
  }

  bytes(): number {
    return this.inner.bytes();
  }

  dispose(): void {
    this.inner.dispose();
  }

  private remember(layer: number, row: Float32Array, position: number): void {
    if (row.length !== this.geometry.queryHeads * this.geometry.headDim) {
      throw new ShapeError(`Queries must be [${this.geometry.queryHeads}][${this.geometry.headDim}], got ${row.length} floats.`);
    }
    const recent = this.recent[layer]!;
    recent.rows.push(row);
    recent.positions.push(position);
    if (recent.rows.length > this.options.window) {
      recent.rows.shift();
      recent.positions.shift();
    }
  }

  private layerTotal(layer: number): number {
    let total = 0;
    for (let h = 0; h < this.geometry.kvHeads; h++) total += this.inner.length(layer, h);
    return total;
  }

  /** The current limit per KV head (entries, window included). */
  limit(layer = 0): number {
    const limit = this.maxTokensPerHead;
    if (typeof limit === 'number') return limit;
    return Math.max(this.options.window + this.every, Math.ceil(limit(this.lastPosition[layer]! + 1)));
  }

  /**
   * Evicts now, in every layer holding more than `tokensPerHead` entries per head on average, down to
   * that many (at least the window): for a caller that needs memory back before the next eviction.
   */
  async compressTo(tokensPerHead: number): Promise<void> {
    const target = Math.max(this.options.window, Math.floor(tokensPerHead));
    for (let layer = 0; layer < this.geometry.layers; layer++) {
      if (this.layerTotal(layer) > this.geometry.kvHeads * target) await this.evict(layer, target);
    }
  }

  private async evictIfFull(layer: number): Promise<void> {
    const limit = this.limit(layer);
    if (this.layerTotal(layer) > this.geometry.kvHeads * limit) await this.evict(layer, limit - this.every);
  }

  private async evict(layer: number, tokensPerHead: number): Promise<void> {
    const { kvHeads, headDim } = this.geometry;
    const g = groupSize(this.geometry);
    const recent = this.recent[layer]!;
    const heads: HeadContext[] = [];
    for (let h = 0; h < kvHeads; h++) {
      const queries = new Float32Array(recent.rows.length * g * headDim);
      recent.rows.forEach((row, r) => queries.set(row.subarray(h * g * headDim, (h + 1) * g * headDim), r * g * headDim));
      const positions = this.inner.positions(layer, h);
      heads.push({
        keys: await this.inner.keys(layer, h),
        positions,
        queries,
        queryPositions: Int32Array.from(recent.positions),
        headDim,
        groupSize: g,
        protectedCount: Math.min(this.options.window, positions.length),
      });
    }
    const plan = planLayer(this.method, this.options, heads, tokensPerHead - this.options.window);
    const before = this.layerTotal(layer);
    this.inner.compact(layer, plan.kept);
    this.evictedTokens += before - this.layerTotal(layer);
    this.evictions++;
  }
}
