import { jointEviction } from '../allocation/joint.js';
import { selectLayer } from '../allocation/plan-layer.js';
import type { Backend } from '../backends/backend.js';
import { BudgetError, OptionError } from '../errors.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { Method, MethodOptions } from '../methods/registry.js';
import type { LayerObservation } from '../model/observation.js';
import { observedLength } from '../scorers/observation-context.js';
import { type OutputProjection, missingOutputProjection, readsOutputProjection } from '../scorers/output-projection.js';
import type { KvStore } from '../store.js';
import { EntryScores } from './entry-scores.js';
import { applyJointEviction, storeJointHeads } from './joint-eviction.js';

/** The method, the limit and the pace of a {@link DecodeEviction}. */
export interface DecodeEvictionOptions {
  /** The method whose scorer and head allocation re-score the cache (e.g. `ada-snapkv`, `kvcompress`). */
  readonly method: string | Method;
  /**
   * Most entries a layer may hold per KV head on average, recent window included; or a function of
   * the tokens the sequence has seen so far (e.g. `(seen) => Math.ceil(seen / 4)` for 4x compression),
   * never taken below `window + every`. A joint method (KV-Compress) holds the whole sequence to
   * `layers x kvHeads x` this.
   */
  readonly maxTokensPerHead: number | ((seen: number) => number);
  /**
   * Decode steps between evictions (default 16; KV-Compress's `compression_interval`): each eviction
   * brings a layer (a joint method: the sequence) down to `maxTokensPerHead - every` per head, so it
   * grows back to the maximum in `every` steps.
   */
  readonly every?: number;
  /** Method options; `window` is the protected recent window and the number of queries kept for scoring. */
  readonly options?: Partial<MethodOptions>;
  /**
   * The model's output projections (`modelOutputProjection(model)`), for methods that score with them
   * (`criti-snapkv`, `ada-criti-snapkv`, refused without). The Generator and the Scheduler pass them.
   */
  readonly outputProjection?: OutputProjection;
}

/**
 * Decode-time eviction (as KV-Compress and kvpress's DecodingPress do), as a policy the runner calls
 * after prefill and after every decode step. The `window` most recent entries of every head are never
 * evicted. Three ways, chosen by the method:
 *
 * - **re-scored per layer** (SnapKV, Ada-SnapKV, StreamingLLM, CriticalKV): the store keeps the last
 *   `window` queries of each layer where it keeps K/V; whenever a layer passes `maxTokensPerHead`
 *   entries per head on average, the backend re-scores its entries from them where the data lives and
 *   evicts across the layer's heads (`backend.evictLayer`).
 * - **cumulative** (`decodeScores: 'cumulative'`: H2O, KV-Compress): a running sum per entry
 *   ({@link EntryScores}) of every score it received — at prefill from the prompt queries the scorer
 *   reads (H2O: all of them; KV-Compress: the observation window), then from every decode query, added
 *   `window` rows at a time and before every eviction (the store records `window + every` rows so none
 *   is lost). Entries keep their sums through compaction; new ones start at 0. The sums select.
 * - **joint** (`allocation: 'joint'`: KV-Compress, random): when the whole sequence passes `layers x
 *   kvHeads x maxTokensPerHead`, every layer is scored (`backend.scoreLayer`, or the sums) and one sort
 *   across all layers and KV heads picks what goes, in whole blocks of `blockSize` entries per head and
 *   at most `maxEvictPerStep` entries per compression (see `jointEviction`), then each layer compacts.
 */
export class DecodeEviction {
  /** The method that re-scores the cache. */
  readonly method: Method;
  /** Its options, resolved. */
  readonly options: MethodOptions;
  /** Decode steps between a layer's evictions. */
  readonly every: number;
  /** `layer`: each layer over its limit is evicted on its own; `joint`: the whole sequence at once. */
  readonly mode: 'layer' | 'joint';
  /** Whether the method selects by running sums per entry (H2O, KV-Compress). */
  readonly cumulative: boolean;
  private readonly maxTokensPerHead: number | ((seen: number) => number);
  private readonly outputProjection: OutputProjection | undefined;
  private readonly sums: EntryScores;
  /** The newest query position added to the running sums. */
  private accumulatedThrough = -1;
  private seen = 0;
  /** Entries evicted so far, over all layers and heads. */
  evictedTokens = 0;
  /** Evictions run so far: one per layer evicted (`layer` mode) or per sequence compression (`joint`). */
  evictions = 0;
  /** Blocks of `blockSize` entries given back by joint evictions so far (one per head's block-sized share). */
  freedBlocks = 0;

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
    this.mode = this.method.allocation === 'joint' ? 'joint' : 'layer';
    this.cumulative = this.method.decodeScores === 'cumulative';
    this.outputProjection = eviction.outputProjection;
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
    if (readsOutputProjection(this.method.scorer) && !this.outputProjection) throw missingOutputProjection(this.method.name);
    if (!backend.owns(store)) throw new OptionError(`Decode-time eviction: the store was not made by the ${backend.name} backend it runs on.`);
    this.sums = new EntryScores(store.geometry);
    store.recordQueries(this.queryRows());
  }

  /** The current limit per KV head (entries, window included). */
  limit(): number {
    const limit = this.maxTokensPerHead;
    if (typeof limit === 'number') return limit;
    return Math.max(this.options.window + this.every, Math.ceil(limit(this.seen)));
  }

  /** Starts over for a new sequence in the same store: forgets the running sums and the recorded queries. */
  reset(): void {
    this.sums.clear();
    this.accumulatedThrough = -1;
    this.seen = 0;
    this.store.recordQueries(this.queryRows());
  }

  /**
   * Call after prefill (and after any compression of the prompt), with the prompt's observations, or
   * with its length when it was prefilled in chunks and the store already recorded its last queries:
   * seeds the scoring queries with the last `window` prompt queries (a cumulative method adds what
   * the prompt's queries gave each entry to its sums), and brings any layer the prompt filled past the
   * limit down to it.
   */
  async afterPrefill(prompt: readonly LayerObservation[] | number): Promise<number> {
    this.sums.clear();
    if (typeof prompt === 'number') {
      this.seen = prompt;
      if (this.cumulative) {
        await this.accumulate(-1); // the rows recorded as the prompt passed
        this.accumulatedThrough = prompt - 1;
        this.store.recordQueries(this.queryRows());
      }
      return this.evictFull();
    }
    const geometry = this.store.geometry;
    const n = observedLength(geometry, prompt[0]!);
    const rowSize = geometry.queryHeads * geometry.headDim;
    this.seen = n;
    if (this.cumulative) {
      // every prompt row once: the scorer reads the ones its method counts (H2O all, KV-Compress the window)
      const positions = Int32Array.from({ length: n }, (_, t) => t);
      this.store.recordQueries(n);
      prompt.forEach((observation, layer) => this.store.seedQueries(layer, observation.queries, positions));
      await this.accumulate(-1);
      this.accumulatedThrough = n - 1;
      this.store.recordQueries(this.queryRows());
      return this.evictFull();
    }
    const first = Math.max(0, n - this.options.window);
    const positions = Int32Array.from({ length: n - first }, (_, i) => first + i);
    this.store.recordQueries(this.queryRows()); // forgets what the prefill itself recorded: each row once
    prompt.forEach((observation, layer) => this.store.seedQueries(layer, observation.queries.subarray(first * rowSize), positions));
    return this.evictFull();
  }

  /** Call after each decode step, with the position the step forwarded; evicts in layers over the limit. */
  async afterStep(position: number): Promise<number> {
    this.seen = position + 1;
    if (this.cumulative && position - this.accumulatedThrough >= this.options.window) await this.catchUp();
    return this.evictFull();
  }

  /**
   * Evicts now, in every layer holding more than `tokensPerHead` entries per head on average (a joint
   * method: the sequence holding more than `layers x kvHeads x tokensPerHead`), down to that many (at
   * least the window): for a caller that needs memory back before the next eviction.
   */
  async compressTo(tokensPerHead: number): Promise<number> {
    const target = Math.max(this.options.window, Math.floor(tokensPerHead));
    const { layers, kvHeads } = this.store.geometry;
    if (this.mode === 'joint') return this.sequenceTotal() > layers * kvHeads * target ? this.evictJoint(layers * kvHeads * target) : 0;
    let evicted = 0;
    for (let layer = 0; layer < layers; layer++) {
      if (this.layerTotal(layer) > kvHeads * target) evicted += await this.evict(layer, target);
    }
    return evicted;
  }

  /** Query rows the store keeps: the window, and room for `every` more rows between accumulations. */
  private queryRows(): number {
    return this.cumulative ? this.options.window + this.every : this.options.window;
  }

  private async evictFull(): Promise<number> {
    const limit = this.limit();
    const { layers, kvHeads } = this.store.geometry;
    if (this.mode === 'joint') {
      return this.sequenceTotal() > layers * kvHeads * limit ? this.evictJoint(layers * kvHeads * (limit - this.every)) : 0;
    }
    let evicted = 0;
    for (let layer = 0; layer < layers; layer++) {
      if (this.layerTotal(layer) > kvHeads * limit) evicted += await this.evict(layer, limit - this.every);
    }
    return evicted;
  }

  private layerTotal(layer: number): number {
    let total = 0;
    for (let h = 0; h < this.store.geometry.kvHeads; h++) total += this.store.length(layer, h);
    return total;
  }

  private sequenceTotal(): number {
    let total = 0;
    for (let layer = 0; layer < this.store.geometry.layers; layer++) total += this.layerTotal(layer);
    return total;
  }

  /** Adds the scores of the recorded rows after `after` to every entry's running sum, layer by layer. */
  private async accumulate(after: number): Promise<void> {
    const { layers, kvHeads } = this.store.geometry;
    for (let layer = 0; layer < layers; layer++) {
      const scores = await this.backend.scoreLayer(this.store, layer, this.scoring(after));
      for (let h = 0; h < kvHeads; h++) this.sums.add(layer, h, this.store.positions(layer, h), scores[h]!);
    }
  }

  /** Adds the rows decoded since the last accumulation to the sums. */
  private async catchUp(): Promise<void> {
    const newest = this.seen - 1;
    if (newest <= this.accumulatedThrough) return;
    await this.accumulate(this.accumulatedThrough);
    this.accumulatedThrough = newest;
  }

  private scoring(queriesAfter?: number) {
    return {
      method: this.method,
      options: this.options,
      ...(queriesAfter === undefined ? {} : { queriesAfter }),
      ...(this.outputProjection ? { outputProjection: this.outputProjection } : {}),
    };
  }

  /** One layer down to `tokensPerHead` per head on average. */
  private async evict(layer: number, tokensPerHead: number): Promise<number> {
    let evicted: number;
    if (this.cumulative) {
      await this.catchUp();
      evicted = this.evictFromSums(layer, tokensPerHead);
    } else {
      evicted = await this.backend.evictLayer(this.store, layer, {
        method: this.method,
        options: this.options,
        tokensPerHead,
        ...(this.outputProjection ? { outputProjection: this.outputProjection } : {}),
      });
    }
    this.evictedTokens += evicted;
    this.evictions++;
    return evicted;
  }

  /** A layer evicted by its running sums, the method's allocation splitting the budget across its heads. */
  private evictFromSums(layer: number, tokensPerHead: number): number {
    const { kvHeads } = this.store.geometry;
    const heads = Array.from({ length: kvHeads }, (_, h) => {
      const positions = this.store.positions(layer, h);
      return { positions, protectedCount: Math.min(this.options.window, positions.length) };
    });
    const scores = heads.map((head, h) => Float32Array.from(this.sums.sync(layer, h, head.positions).subarray(0, head.positions.length - head.protectedCount)));
    const plan = selectLayer(this.method, this.options, heads, scores, tokensPerHead - this.options.window);
    const before = heads.reduce((sum, head) => sum + head.positions.length, 0);
    const after = plan.kept.reduce((sum, kept) => sum + kept.length, 0);
    if (after < before) this.store.compact(layer, plan.kept);
    return before - after;
  }

  /** The whole sequence down to `target` entries by one sort across layers and heads (KV-Compress). */
  private async evictJoint(target: number): Promise<number> {
    const { layers, kvHeads } = this.store.geometry;
    const metrics: ArrayLike<number>[][] = [];
    if (this.cumulative) {
      await this.catchUp();
      for (let layer = 0; layer < layers; layer++) {
        metrics.push(Array.from({ length: kvHeads }, (_, h) => this.sums.sync(layer, h, this.store.positions(layer, h))));
      }
    } else {
      for (let layer = 0; layer < layers; layer++) metrics.push(await this.backend.scoreLayer(this.store, layer, this.scoring()));
    }
    const { blockSize, maxEvictPerStep } = this.options as MethodOptions;
    const result = jointEviction(storeJointHeads(this.store, metrics, this.options.window), { target, blockSize, maxEvict: maxEvictPerStep });
    applyJointEviction(this.store, result);
    this.evictedTokens += result.evictedEntries;
    this.freedBlocks += result.freedBlocks;
    this.evictions++;
    return result.evictedEntries;
  }
}
