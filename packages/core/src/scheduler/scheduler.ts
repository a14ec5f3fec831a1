import { EvictingStore } from '../decode/evicting-store.js';
import { ContextOverflowError, OptionError, PoolExhaustedError } from '../errors.js';
import { type CacheGeometry } from '../geometry.js';
import { cacheGeometry } from '../model/config.js';
import { Transformer } from '../model/forward.js';
import type { Model } from '../model/model.js';
import { Rng, Sampler } from '../model/sampler.js';
import { TokenTextStream } from '../model/tokenizer.js';
import { planCompression } from '../plan.js';
import type { PagedPool } from '../stores/paged-pool.js';
import { ReferenceStore } from '../stores/reference-store.js';
import type { SchedulerTotals, StepMetrics } from './metrics.js';
import { type CompletionRequest, resolveRequest } from './request.js';
import type { CompletionHandle, CompletionResult, FinishReason, Sequence } from './sequence.js';

export interface SchedulerOptions {
  /** Most sequences decoded together in one step (default 8). */
  readonly maxBatch?: number;
  /** Decode steps between a sequence's evictions (default 16; see `EvictingStore`). */
  readonly evictEvery?: number;
  /** Run steps by itself whenever there is work (default true); false = the caller calls `step()`. */
  readonly autoRun?: boolean;
  /**
   * `reserve` (default) admits a request only when its cache fits at its final length next to what
   * the running ones may still grow into, so preemption is rare; `optimistic` admits when it fits
   * now, runs more sequences at once, and relies on compression and preemption when they grow.
   */
  readonly admission?: 'reserve' | 'optimistic';
  /** Called after every step. */
  readonly onStep?: (metrics: StepMetrics) => void;
}

const nextTick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Many sequences over one fixed paged pool (KV-Compress's setting): admits a queued request when its
 * compressed cache fits, decodes the running ones in one batch per step, keeps each within its
 * target by continual eviction, and when the pool runs short compresses first and only then
 * preempts (the newest sequence goes back to the queue with its tokens; nothing is lost).
 */
export class Scheduler {
  readonly geometry: CacheGeometry;
  readonly totals: SchedulerTotals = {
    steps: 0, completed: 0, cancelled: 0, failed: 0, preemptions: 0,
    generatedTokens: 0, evictedTokens: 0, decodeMs: 0, scheduleMs: 0, prefillMs: 0,
  };
  private readonly transformer: Transformer;
  private readonly queue: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly maxBatch: number;
  private readonly every: number;
  private readonly autoRun: boolean;
  private nextId = 1;
  private loop: Promise<void> | null = null;
  private stepping = false;
  private closed = false;
  private last: StepMetrics | null = null;

  constructor(
    readonly model: Model,
    readonly pool: PagedPool,
    private readonly options: SchedulerOptions = {},
  ) {
    this.geometry = cacheGeometry(model.config);
    if (pool.headDim !== this.geometry.headDim) {
      throw new OptionError(`The pool holds rows of ${pool.headDim} floats, the model's heads have ${this.geometry.headDim}.`);
    }
    this.maxBatch = options.maxBatch ?? 8;
    this.every = options.evictEvery ?? 16;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new OptionError(`maxBatch must be >= 1, got ${this.maxBatch}.`);
    if (!Number.isInteger(this.every) || this.every < 1) throw new OptionError(`evictEvery must be >= 1, got ${this.every}.`);
    this.autoRun = options.autoRun ?? true;
    this.transformer = new Transformer(model);
  }

  get runningCount(): number {
    return this.running.length;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  /** The last step's metrics (null before the first step). */
  get lastStep(): StepMetrics | null {
    return this.last;
  }

  /** Queues a request; the handle's promise settles when it finishes, is cancelled, or cannot run at all. */
  submit(request: CompletionRequest): CompletionHandle {
    if (this.closed) throw new OptionError('The scheduler is closed; it takes no new requests.');
    const resolved = resolveRequest(request);
    const promptTokens = this.promptTokens(request.prompt);
    const { contextLength } = this.model.config;
    if (promptTokens.length + resolved.maxTokens > contextLength) {
      throw new ContextOverflowError(
        `${promptTokens.length} prompt tokens + ${resolved.maxTokens} new tokens exceed the model's context of ${contextLength}.`,
      );
    }
    if (resolved.limit && resolved.limit(contextLength) < resolved.protectedWindow + this.every && request.maxCacheTokens !== undefined) {
      throw new OptionError(
        `maxCacheTokens (${request.maxCacheTokens}) must be at least protectedWindow + evictEvery (${resolved.protectedWindow} + ${this.every}).`,
      );
    }
    let settle!: Pick<Sequence, 'resolve' | 'reject'>;
    const result = new Promise<CompletionResult>((resolve, reject) => (settle = { resolve, reject }));
    const tokenizer = this.model.tokenizer;
    const sequence: Sequence = {
      id: this.nextId++,
      request,
      resolved,
      promptTokens,
      tokens: [],
      sampler: new Sampler(this.model.config.vocabSize, { temperature: resolved.temperature, topP: resolved.topP }, new Rng(resolved.seed)),
      text: tokenizer ? new TokenTextStream(tokenizer, promptTokens[promptTokens.length - 1]) : null,
      output: '',
      store: null,
      evicting: null,
      preemptions: 0,
      evictedTokens: 0,
      cancelled: false,
      ...settle,
    };
    const cancel = () => {
      sequence.cancelled = true;
      this.kick();
    };
    request.signal?.addEventListener('abort', cancel, { once: true });
    if (request.signal?.aborted) sequence.cancelled = true;
    this.queue.push(sequence);
    this.kick();
    return { id: sequence.id, result, cancel };
  }

  /** One scheduling round and one batched decode step. Returns null when there was nothing to do. */
  async step(): Promise<StepMetrics | null> {
    if (this.stepping) throw new OptionError('step() is already running; await it before calling again.');
    if (this.running.length === 0 && this.queue.length === 0) return null;
    this.stepping = true;
    try {
      return await this.stepOnce();
    } finally {
      this.stepping = false;
    }
  }

  /** Stops taking requests; with `drain` (default) finishes everything queued, otherwise cancels it. */
  async close({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (!drain) for (const sequence of [...this.queue, ...this.running]) sequence.cancelled = true;
    if (this.autoRun) {
      this.kick();
      await this.loop;
    } else {
      while (await this.step());
    }
  }

  private kick(): void {
    if (!this.autoRun || this.loop) return;
    this.loop = (async () => {
      while (this.running.length > 0 || this.queue.length > 0) {
        await this.step();
        await nextTick(); // let I/O (new requests, disconnects) in between steps
      }
      this.loop = null;
    })();
  }

  private async stepOnce(): Promise<StepMetrics> {
    const started = performance.now();
    let prefillMs = 0;
    let finished = this.dropCancelled();
    let preempted = 0;
    let admitted = 0;
    // Admission, oldest first; a request that does not fit waits (no overtaking).
    while (this.running.length < this.maxBatch && this.queue.length > 0) {
      const candidate = this.queue[0]!;
      const need = this.admissionBlocks(candidate);
      if (need > this.pool.stats().freeBlocks) {
        if (this.running.length === 0) this.fail(this.queue.shift()!, this.tooSmall(need, 'to start'));
        break;
      }
      this.queue.shift();
      const t0 = performance.now();
      const admittedOk = await this.admit(candidate);
      prefillMs += performance.now() - t0;
      if (!admittedOk) break;
      admitted++;
      finished += this.finishIfDone(candidate) ? 1 : 0;
    }
    // Pressure: compress first, preempt only after.
    if (this.blocksForNextStep() > this.pool.stats().freeBlocks) {
      for (const sequence of this.running) await sequence.evicting?.compressTo(sequence.evicting.limit() - this.every);
    }
    while (this.running.length > 0 && this.blocksForNextStep() > this.pool.stats().freeBlocks) {
      const victim = this.running[this.running.length - 1]!;
      if (this.running.length === 1) {
        const need = this.blocksForNextStep();
        this.fail(victim, this.tooSmall(need, 'to go on'));
        break;
      }
      this.preempt(victim);
      preempted++;
    }
    const scheduled = performance.now();
    let generated = 0;
    if (this.running.length > 0) {
      const batch = [...this.running];
      const logits = await this.transformer.decodeBatch(
        batch.map((s) => s.tokens[s.tokens.length - 1]!),
        batch.map((s) => s.promptTokens.length + s.tokens.length - 1),
        batch.map((s) => s.evicting ?? s.store!),
      );
      batch.forEach((sequence, i) => {
        this.sample(sequence, logits[i]!);
        generated++;
        if (this.finishIfDone(sequence)) finished++;
      });
    }
    const decodeMs = performance.now() - scheduled;
    const stats = this.pool.stats();
    const scheduleMs = scheduled - started - prefillMs;
    const metrics: StepMetrics = {
      step: ++this.totals.steps,
      running: this.running.length,
      queued: this.queue.length,
      admitted,
      finished,
      preempted,
      generatedTokens: generated + admitted,
      usedBlocks: stats.usedBlocks,
      freeBlocks: stats.freeBlocks,
      scheduleMs,
      prefillMs,
      decodeMs,
    };
    Object.assign(this.totals, {
      generatedTokens: this.totals.generatedTokens + metrics.generatedTokens,
      decodeMs: this.totals.decodeMs + decodeMs,
      scheduleMs: this.totals.scheduleMs + scheduleMs,
      prefillMs: this.totals.prefillMs + prefillMs,
      preemptions: this.totals.preemptions + preempted,
    });
    this.last = metrics;
    this.options.onStep?.(metrics);
    return metrics;
  }

  private promptTokens(prompt: string | readonly number[]): number[] {
    if (typeof prompt !== 'string') {
      const tokens = [...prompt];
      const vocab = this.model.config.vocabSize;
      if (tokens.length === 0 || tokens.some((t) => !Number.isInteger(t) || t < 0 || t >= vocab)) {
        throw new OptionError(`The prompt must be one or more token ids in [0, ${vocab}).`);
      }
      return tokens;
    }
    if (!this.model.tokenizer) throw new OptionError('This model has no tokenizer; pass prompt token ids.');
    if (prompt.length === 0) throw new OptionError('The prompt is empty; give some text to continue.');
    return this.model.tokenizer.encode(prompt);
  }

  /** Forwarded tokens of a sequence: the prompt and every sampled token but the pending last one. */
  private forwarded(sequence: Sequence): number[] {
    return [...sequence.promptTokens, ...sequence.tokens.slice(0, -1)];
  }

  /** Blocks a sequence's cache may hold at most over its life: its limit at its final length, every layer. */
  private lifetimeBlocks(sequence: Sequence): number {
    const { layers, kvHeads } = this.geometry;
    const { limit, maxTokens, protectedWindow } = sequence.resolved;
    const final = sequence.promptTokens.length + maxTokens;
    const perHead = limit ? Math.min(final, Math.max(protectedWindow + this.every, Math.ceil(limit(final)))) : final;
    // at most one partly filled block per head on top of the whole ones
    return layers * (Math.ceil((kvHeads * (perHead + 1)) / this.pool.blockSize) + kvHeads);
  }

  /**
   * Free blocks a candidate needs to be admitted: its lifetime cache plus one full layer written
   * during admission, on top of what the running sequences may still grow into. Reserving the
   * lifetime up front keeps preemption (which costs a new prefill) for estimates that were wrong.
   */
  private admissionBlocks(candidate: Sequence): number {
    const n = candidate.tokens.length === 0 ? candidate.promptTokens.length : this.forwarded(candidate).length;
    const fullLayer = this.geometry.kvHeads * Math.ceil(n / this.pool.blockSize);
    if (this.options.admission === 'optimistic') {
      const { layers, kvHeads } = this.geometry;
      const kept = Math.min(n, this.budgetAfterPrefill(candidate, n));
      return layers * (Math.ceil((kvHeads * (kept + 1)) / this.pool.blockSize) + kvHeads) + fullLayer + this.blocksForNextStep();
    }
    const growth = this.running.reduce((sum, s) => sum + Math.max(0, this.lifetimeBlocks(s) - s.store!.stats().blocks), 0);
    return this.lifetimeBlocks(candidate) + fullLayer + growth;
  }

  /** Entries per head a sequence keeps right after prefill: its limit, less the room for `every` steps. */
  private budgetAfterPrefill(sequence: Sequence, n: number): number {
    const { limit, protectedWindow } = sequence.resolved;
    if (!limit) return n;
    return Math.max(protectedWindow + this.every, Math.ceil(limit(n))) - this.every;
  }

  /** New blocks the next decode step needs at most: one per head sitting at a block boundary. */
  private blocksForNextStep(): number {
    const { layers, kvHeads } = this.geometry;
    const bs = this.pool.blockSize;
    let need = 0;
    for (const sequence of this.running) {
      const store = sequence.store!;
      for (let l = 0; l < layers; l++) for (let h = 0; h < kvHeads; h++) if (store.length(l, h) % bs === 0) need++;
    }
    return need;
  }

  /** Prefills (a fresh or a preempted sequence), compresses, and writes the kept entries into the pool layer by layer. */
  private async admit(sequence: Sequence): Promise<boolean> {
    const tokens = sequence.tokens.length === 0 ? sequence.promptTokens : this.forwarded(sequence);
    const { logits, observations } = await this.transformer.prefill(tokens, new ReferenceStore(this.geometry));
    const { method, limit, protectedWindow } = sequence.resolved;
    const plan = limit && tokens.length > protectedWindow // a prompt within the window has nothing to score yet
      ? planCompression({
          method,
          geometry: this.geometry,
          observations,
          budget: Math.min(tokens.length, this.budgetAfterPrefill(sequence, tokens.length)),
          options: { window: protectedWindow },
        })
      : null;
    const store = this.pool.createStore(this.geometry);
    const positions = Int32Array.from({ length: tokens.length }, (_, t) => t);
    try {
      observations.forEach((observation, layer) => {
        store.append(layer, observation.keys, observation.values, positions);
        const kept = plan?.layers[layer]!.kept;
        if (kept && kept.some((k) => k.length < tokens.length)) store.compact(layer, kept);
      });
    } catch (error) {
      store.dispose();
      if (!(error instanceof PoolExhaustedError)) throw error;
      this.queue.unshift(sequence); // the estimate was short: wait for memory
      return false;
    }
    sequence.store = store;
    sequence.evicting = limit
      ? new EvictingStore(store, { method, maxTokensPerHead: limit, every: this.every, options: { window: protectedWindow } })
      : null;
    await sequence.evicting?.observe(observations); // seeds the scoring queries; already within the limit
    if (plan) sequence.evictedTokens += plan.originalTotal - plan.achievedTotal;
    this.running.push(sequence);
    if (sequence.tokens.length === 0) this.sample(sequence, logits);
    return true;
  }

  private sample(sequence: Sequence, logits: Float32Array): void {
    const token = sequence.sampler.sample(logits);
    sequence.tokens.push(token);
    const tokenizer = this.model.tokenizer;
    const end = tokenizer && (token === tokenizer.bosToken || token === tokenizer.eosToken);
    const piece = sequence.text && !end ? sequence.text.push(token) : '';
    sequence.output += piece;
    if (!(end && sequence.resolved.stopAtEndOfText)) sequence.request.onToken?.({ token, text: piece });
  }

  private finishIfDone(sequence: Sequence): boolean {
    const last = sequence.tokens[sequence.tokens.length - 1];
    const tokenizer = this.model.tokenizer;
    const stop = sequence.resolved.stopAtEndOfText && tokenizer && (last === tokenizer.bosToken || last === tokenizer.eosToken);
    if (stop) sequence.tokens.pop();
    if (!stop && sequence.tokens.length < sequence.resolved.maxTokens) return false;
    this.finish(sequence, stop ? 'stop' : 'length');
    return true;
  }

  private dropCancelled(): number {
    let count = 0;
    for (const list of [this.queue, this.running]) {
      for (const sequence of list.filter((s) => s.cancelled)) {
        this.finish(sequence, 'cancelled');
        count++;
      }
    }
    return count;
  }

  private release(sequence: Sequence): void {
    for (const list of [this.queue, this.running]) {
      const index = list.indexOf(sequence);
      if (index >= 0) list.splice(index, 1);
    }
    if (sequence.evicting) sequence.evictedTokens += sequence.evicting.evictedTokens;
    sequence.store?.dispose();
    sequence.store = null;
    sequence.evicting = null;
  }

  private finish(sequence: Sequence, finishReason: FinishReason): void {
    this.release(sequence);
    if (sequence.text) sequence.output += sequence.text.flush();
    this.totals.evictedTokens += sequence.evictedTokens;
    if (finishReason === 'cancelled') this.totals.cancelled++;
    else this.totals.completed++;
    sequence.resolve({
      id: sequence.id,
      promptTokens: sequence.promptTokens,
      tokens: [...sequence.tokens],
      text: sequence.output,
      finishReason,
      preemptions: sequence.preemptions,
      evictedTokens: sequence.evictedTokens,
    });
  }

  private preempt(sequence: Sequence): void {
    this.release(sequence);
    sequence.preemptions++;
    this.queue.unshift(sequence);
  }

  private fail(sequence: Sequence, error: Error): void {
    this.release(sequence);
    this.totals.failed++;
    sequence.reject(error);
  }

  private tooSmall(need: number, when: string): PoolExhaustedError {
    const { freeBlocks } = this.pool.stats();
    return new PoolExhaustedError(
      `This request needs ${need} more blocks ${when} with the whole pool to itself, but only ${freeBlocks} are free; ` +
        'give it a smaller cache (maxCacheTokens / compressionRatio), a shorter prompt, or a bigger pool.',
    );
  }
}
