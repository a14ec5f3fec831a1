import type { Backend } from '../backends/backend.js';
import { BudgetError, OptionError } from '../errors.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { Method, MethodOptions } from '../methods/registry.js';
import type { LayerObservation } from '../model/observation.js';
import { observedLength } from '../scorers/observation-context.js';
import type { KvStore } from '../store.js';

/** The method, the limit and the pace of a {@link DecodeEviction}. */
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

/**
 * Decode-time eviction (as KV-Compress and kvpress's DecodingPress do), as a policy the runner calls
 * after prefill and after every decode step: the store keeps the last `window` queries of each layer
 * where it keeps K/V, and whenever a layer passes `maxTokensPerHead` entries per head on average the
 * backend re-scores the layer's entries from them where the data lives and evicts across heads. The
 * `window` most recent entries of every head are never evicted.
 */
export class DecodeEviction {
  /** The method that re-scores the cache. */
  readonly method: Method;
  /** Its options, resolved. */
  readonly options: MethodOptions;
  /** Decode steps between a layer's evictions. */
  readonly every: number;
  private readonly maxTokensPerHead: number | ((seen: number) => number);
  private seen = 0;
  /** Entries evicted so far, over all layers and heads. */
  evictedTokens = 0;
  /** Layer evictions run so far. */
  evictions = 0;

  /**
   * @param backend The backend that made `store`: it re-scores and evicts where the data lives.
   * @param store The sequence's cache.
   */
  constructor(
    private readonly backend: Backend,
    readonly store: KvStore,
    eviction: DecodeEvictionOptions,
  ) {
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
        `maxTokensPerHead (${fixed}) must be a whole number of at least window + every ` +
          `(${this.options.window} + ${this.every}) so the protected recent window fits after an eviction.`,
      );
    }
    if (!backend.owns(store)) throw new OptionError(`Decode-time eviction: the store was not made by the ${backend.name} backend it runs on.`);
    store.recordQueries(this.options.window);
  }

  /** The current limit per KV head (entries, window included). */
  limit(): number {
    const limit = this.maxTokensPerHead;
    if (typeof limit === 'number') return limit;
    return Math.max(this.options.window + this.every, Math.ceil(limit(this.seen)));
  }

  /**
   * Call after prefill (and after any compression of the prompt), with the prompt's observations, or
   * with its length when it was prefilled in chunks and the store already recorded its last queries:
   * seeds the scoring queries with the last `window` prompt queries, and brings any layer the prompt
   * filled past the limit down to it.
   */
  async afterPrefill(prompt: readonly LayerObservation[] | number): Promise<number> {
    if (typeof prompt === 'number') {
      this.seen = prompt;
      return this.evictFull();
    }
    const geometry = this.store.geometry;
    const n = observedLength(geometry, prompt[0]!);
    const rowSize = geometry.queryHeads * geometry.headDim;
    const first = Math.max(0, n - this.options.window);
    const positions = Int32Array.from({ length: n - first }, (_, i) => first + i);
    this.store.recordQueries(this.options.window); // forgets what the prefill itself recorded: each row once
    prompt.forEach((observation, layer) => this.store.seedQueries(layer, observation.queries.subarray(first * rowSize), positions));
    this.seen = n;
    return this.evictFull();
  }

  /** Call after each decode step, with the position the step forwarded; evicts in layers over the limit. */
  async afterStep(position: number): Promise<number> {
    this.seen = position + 1;
    return this.evictFull();
  }

  /**
   * Evicts now, in every layer holding more than `tokensPerHead` entries per head on average, down to
   * that many (at least the window): for a caller that needs memory back before the next eviction.
   */
  async compressTo(tokensPerHead: number): Promise<number> {
    const target = Math.max(this.options.window, Math.floor(tokensPerHead));
    let evicted = 0;
    for (let layer = 0; layer < this.store.geometry.layers; layer++) {
      if (this.layerTotal(layer) > this.store.geometry.kvHeads * target) evicted += await this.evict(layer, target);
    }
    return evicted;
  }

  private async evictFull(): Promise<number> {
    const limit = this.limit();
    let evicted = 0;
    for (let layer = 0; layer < this.store.geometry.layers; layer++) {
      if (this.layerTotal(layer) > this.store.geometry.kvHeads * limit) evicted += await this.evict(layer, limit - this.every);
    }
    return evicted;
  }

  private layerTotal(layer: number): number {
    let total = 0;
    for (let h = 0; h < this.store.geometry.kvHeads; h++) total += this.store.length(layer, h);
    return total;
  }

  private async evict(layer: number, tokensPerHead: number): Promise<number> {
    const evicted = await this.backend.evictLayer(this.store, layer, { method: this.method, options: this.options, tokensPerHead });
    this.evictedTokens += evicted;
    this.evictions++;
    return evicted;
  }
}
