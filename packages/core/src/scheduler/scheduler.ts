import type { Backend, ForwardPass, KvPool } from '../backends/backend.js';
import { DecodeEviction } from '../decode/decode-eviction.js';
import { ContextOverflowError, InvalidNumberError, OptionError, PoolExhaustedError } from '../errors.js';
import { type CacheGeometry } from '../geometry.js';
import { cacheGeometry } from '../model/config.js';
import { checkLogits } from '../model/forward-checks.js';
import type { Model } from '../model/model.js';
import { Rng, Sampler } from '../model/sampler.js';
import { TokenTextStream } from '../model/tokenizer.js';
import type { SchedulerTotals, StepMetrics } from './metrics.js';
import { type CompletionRequest, type GeneratedTokenEvent, resolveRequest } from './request.js';
import { logSoftmax } from '../eval/distributions.js';
import { topKIndices } from '../allocation/top-k.js';
import { type OutputProjection, modelOutputProjection } from '../scorers/output-projection.js';
import type { CompletionHandle, CompletionResult, FinishReason, Sequence } from './sequence.js';
import type { KvFormat } from '../backends/kv-format.js';
import { residualBytes } from '../quantization/held-bytes.js';

/** The pool, the batch and the admission policy of a {@link Scheduler}. */
export interface SchedulerOptions {
  /** Blocks of the shared pool, fixed: the cache memory budget (default: a pool that grows as needed). */
  readonly poolBlocks?: number;
  /** Tokens per block (default 16). */
  readonly blockSize?: number;
  /** How the pool stores K/V (default `f32`; `f16`, `int8`, `int4` on wasm and webgpu): a block holds that many bytes fewer. */
  readonly kvFormat?: KvFormat;
  /** Most sequences decoded together in one step (default 8). */
  readonly maxBatch?: number;
  /** Decode steps between a sequence's evictions (default 16; see `DecodeEviction`). */
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

/** A sampled token and, when the request asked, its log-probabilities. */
type Picked = Omit<GeneratedTokenEvent, 'text'>;

/** What {@link Scheduler.isolated} returns for work that threw (and failed its sequence). */
const FAILED: unique symbol = Symbol('failed');

const nextTick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Many sequences over one fixed paged pool (KV-Compress's setting), on a backend with paged storage
 * (wasm or webgpu): admits a queued request when its compressed cache fits, decodes the running ones
 * in one batch per step (one submission on WebGPU), keeps each within its target by continual
 * eviction, and when the pool runs short compresses first and only then preempts (the newest
 * sequence goes back to the queue with its tokens; nothing is lost).
 */
export class Scheduler {
  /** The cache geometry of the model. */
  readonly geometry: CacheGeometry;
  /** Totals since the scheduler started. */
  readonly totals: SchedulerTotals = {
    steps: 0, completed: 0, cancelled: 0, failed: 0, preemptions: 0,
    generatedTokens: 0, evictedTokens: 0, decodeMs: 0, evictionMs: 0, scheduleMs: 0, prefillMs: 0,
  };
  /** The pool every sequence's cache lives in; made from the backend, freed with it (or `pool.dispose()`). */
  readonly pool: KvPool;
  private readonly transformer: ForwardPass;
  /** The model's output projections, for methods that weigh values through W_o (CriticalKV). */
  private readonly outputProjection: OutputProjection;
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

  /**
   * @param model The model every request runs on.
   * @param backend Where the model, the pool and the planning run (wasm or webgpu: paged storage).
   */
  constructor(
    readonly model: Model,
    readonly backend: Backend,
    private readonly options: SchedulerOptions = {},
  ) {
    this.geometry = cacheGeometry(model.config);
    this.maxBatch = options.maxBatch ?? 8;
    this.every = options.evictEvery ?? 16;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new OptionError(`maxBatch must be >= 1, got ${this.maxBatch}.`);
    if (!Number.isInteger(this.every) || this.every < 1) throw new OptionError(`evictEvery must be >= 1, got ${this.every}.`);
    this.autoRun = options.autoRun ?? true;
    this.transformer = backend.forwardPass(model);
    this.outputProjection = modelOutputProjection(model);
    this.pool = backend.createPool(this.geometry, {
      ...(options.blockSize === undefined ? {} : { blockSize: options.blockSize }),
      ...(options.poolBlocks === undefined ? {} : { poolBlocks: options.poolBlocks }),
      ...(options.kvFormat === undefined ? {} : { kvFormat: options.kvFormat }),
    });
  }

  /** Sequences running now. */
  get runningCount(): number {
    return this.running.length;
  }

  /** Requests waiting to be admitted. */
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
    const resolved = resolveRequest(request, (bytes) => this.entriesForBytes(bytes));
    const promptTokens = this.promptTokens(request.prompt);
    const { contextLength } = this.model.config;
    if (promptTokens.length + resolved.maxTokens > contextLength) {
      throw new ContextOverflowError(
        `${promptTokens.length} prompt tokens + ${resolved.maxTokens} new tokens exceed the model's context of ${contextLength}.`,
      );
    }
    const least = resolved.protectedWindow + this.every;
    if (resolved.limit && resolved.limit(contextLength) < least && request.maxCacheTokens !== undefined) {
      throw new OptionError(`maxCacheTokens (${request.maxCacheTokens}) must be at least protectedWindow + evictEvery (${resolved.protectedWindow} + ${this.every}).`);
    }
    if (resolved.limit && request.maxKvBytes !== undefined && resolved.limit(contextLength) < least) {
      throw new OptionError(
        `maxKvBytes (${request.maxKvBytes}) holds ${resolved.limit(contextLength)} entries per KV head in this pool (${this.kvFormat}, blocks of ${this.pool.blockSize}); ` +
          `the protected window (${resolved.protectedWindow}) and the ${this.every} tokens decoded between evictions need ${least}: give at least ${this.bytesForEntries(least)} bytes.`,
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
      eviction: null,
      preemptions: 0,
      evictedTokens: 0,
      peakKvBytes: 0,
      cancelled: false,
      ...settle,
    };
    const alone = this.admissionBlocks(sequence, []);
    if (alone > this.pool.capacity) {
      throw new PoolExhaustedError(
        `This request needs ${alone} blocks to start, more than the whole pool holds (${this.pool.capacity}); ` +
          'give it a smaller cache (maxCacheTokens, compressionRatio or maxKvBytes), a shorter prompt or fewer tokens, or use a bigger pool.',
      );
    }
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
        try {
          await this.step();
        } catch (error) {
          // a failure no sequence claimed: the running ones may be half-stepped, so they fail; the queue goes on
          for (const sequence of [...this.running]) this.fail(sequence, error);
        }
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
      const admittedOk = await this.isolated(candidate, () => this.admit(candidate));
      prefillMs += performance.now() - t0;
      if (admittedOk === false) break;
      if (admittedOk === FAILED) continue; // it failed alone; the others go on
      admitted++;
      finished += this.finishIfDone(candidate) ? 1 : 0;
    }
    // Pressure: compress first, preempt only after.
    if (this.blocksForNextStep() > this.pool.stats().freeBlocks) {
      for (const sequence of [...this.running]) {
        await this.isolated(sequence, () => sequence.eviction?.compressTo(sequence.eviction.limit() - this.every));
      }
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
    const decoded = await this.decodeRunning();
    const evicting = performance.now();
    for (const [sequence, next] of decoded) {
      if (this.isolated(sequence, () => this.accept(sequence, next)) === FAILED) continue;
      generated++;
      this.notePeak(sequence);
      if (this.finishIfDone(sequence)) finished++;
      else await this.isolated(sequence, () => sequence.eviction?.afterStep(this.position(sequence) - 1));
    }
    const evictionMs = performance.now() - evicting;
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
      evictionMs,
    };
    Object.assign(this.totals, {
      generatedTokens: this.totals.generatedTokens + metrics.generatedTokens,
      decodeMs: this.totals.decodeMs + decodeMs,
      evictionMs: this.totals.evictionMs + evictionMs,
      scheduleMs: this.totals.scheduleMs + scheduleMs,
      prefillMs: this.totals.prefillMs + prefillMs,
      preemptions: this.totals.preemptions + preempted,
    });
    this.last = metrics;
    this.options.onStep?.(metrics);
    return metrics;
  }

  /**
   * Runs work that concerns one sequence; if it throws, only that sequence fails (its blocks freed,
   * its promise rejected with the error) and FAILED is returned.
   */
  private isolated<T>(sequence: Sequence, work: () => Promise<T>): Promise<T | typeof FAILED>;
  private isolated<T>(sequence: Sequence, work: () => T): T | typeof FAILED;
  private isolated<T>(sequence: Sequence, work: () => T | Promise<T>): T | typeof FAILED | Promise<T | typeof FAILED> {
    const failed = (error: unknown): typeof FAILED => {
      this.fail(sequence, error);
      return FAILED;
    };
    try {
      const result = work();
      return result instanceof Promise ? result.catch(failed) : result;
    } catch (error) {
      return failed(error);
    }
  }

  /** Position of the token a sequence forwards next (its last sampled one). */
  private position(sequence: Sequence): number {
    return sequence.promptTokens.length + sequence.tokens.length - 1;
  }

  /**
   * One batched decode step of the running sequences: each one's next token (greedy ones picked
   * where the logits are when the whole batch is greedy), logits checked finite. If the batch throws,
   * each sequence's half-written step is undone and it is retried alone, so an error fails only the
   * sequences it concerns.
   */
  private async decodeRunning(): Promise<[Sequence, Picked][]> {
    const batch = [...this.running];
    if (batch.length === 0) return [];
    // the argmax can be taken where the logits are only when nobody needs the logits themselves
    const greedy = batch.every((s) => s.resolved.temperature === 0 && !this.needsLogits(s));
    const decode = async (sequences: Sequence[]): Promise<Picked[]> => {
      const tokens = sequences.map((s) => s.tokens[s.tokens.length - 1]!);
      const positions = sequences.map((s) => this.position(s));
      const stores = sequences.map((s) => s.store!);
      if (greedy) return (await this.transformer.decodeGreedy(tokens, positions, stores)).map((token) => ({ token }));
      const logits = await this.transformer.decodeBatch(tokens, positions, stores);
      return sequences.map((s, i) => this.pick(s, logits[i]!, positions[i]! + 1));
    };
    try {
      const next = await decode(batch);
      return batch.map((sequence, i) => [sequence, next[i]!]);
    } catch {
      const results: [Sequence, Picked][] = [];
      for (const sequence of batch) {
        this.isolated(sequence, () => this.undoStep(sequence, this.position(sequence)));
        if (!this.running.includes(sequence)) continue;
        const next = await this.isolated(sequence, () => decode([sequence]));
        if (next !== FAILED) results.push([sequence, next[0]!]);
      }
      return results;
    }
  }

  /** Removes what a failed decode step appended at `position` (the newest entry of each head). */
  private undoStep(sequence: Sequence, position: number): void {
    const store = sequence.store!;
    for (let layer = 0; layer < this.geometry.layers; layer++) {
      const kept: Int32Array[] = [];
      let changed = false;
      for (let head = 0; head < this.geometry.kvHeads; head++) {
        const positions = store.positions(layer, head);
        const appended = positions.length > 0 && positions[positions.length - 1] === position;
        changed ||= appended;
        kept.push(Int32Array.from({ length: positions.length - (appended ? 1 : 0) }, (_, i) => i));
      }
      if (changed) store.compact(layer, kept);
    }
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
    // text that cannot fit the context is refused before any time goes into encoding it
    return this.model.tokenizer.encode(prompt, { maxTokens: this.model.config.contextLength });
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
  private admissionBlocks(candidate: Sequence, running: readonly Sequence[] = this.running): number {
    const n = candidate.tokens.length === 0 ? candidate.promptTokens.length : this.forwarded(candidate).length;
    const fullLayer = this.geometry.kvHeads * Math.ceil(n / this.pool.blockSize);
    if (this.options.admission === 'optimistic') {
      const { layers, kvHeads } = this.geometry;
      const kept = Math.min(n, this.budgetAfterPrefill(candidate, n));
      return layers * (Math.ceil((kvHeads * (kept + 1)) / this.pool.blockSize) + kvHeads) + fullLayer + this.blocksForNextStep(running);
    }
    const growth = running.reduce((sum, s) => sum + Math.max(0, this.lifetimeBlocks(s) - this.blocksHeld(s)), 0);
    return this.lifetimeBlocks(candidate) + fullLayer + growth;
  }

  /** Blocks a running sequence's cache holds now (one per started block of each head). */
  private blocksHeld(sequence: Sequence): number {
    const { layers, kvHeads } = this.geometry;
    let blocks = 0;
    for (let l = 0; l < layers; l++) for (let h = 0; h < kvHeads; h++) blocks += Math.ceil(sequence.store!.length(l, h) / this.pool.blockSize);
    return blocks;
  }

  /** Entries per head a sequence keeps right after prefill: its limit, less the room for `every` steps. */
  private budgetAfterPrefill(sequence: Sequence, n: number): number {
    const { limit, protectedWindow } = sequence.resolved;
    if (!limit) return n;
    return Math.max(protectedWindow + this.every, Math.ceil(limit(n))) - this.every;
  }

  /** New blocks the next decode step needs at most: one per head sitting at a block boundary. */
  private blocksForNextStep(running: readonly Sequence[] = this.running): number {
    const { layers, kvHeads } = this.geometry;
    const bs = this.pool.blockSize;
    let need = 0;
    for (const sequence of running) {
      const store = sequence.store!;
      for (let l = 0; l < layers; l++) for (let h = 0; h < kvHeads; h++) if (store.length(l, h) % bs === 0) need++;
    }
    return need;
  }

  /** Prefills (a fresh or a preempted sequence), compresses, and writes the kept entries into the pool layer by layer. */
  private async admit(sequence: Sequence): Promise<boolean> {
    const tokens = sequence.tokens.length === 0 ? sequence.promptTokens : this.forwarded(sequence);
    // the whole prompt's K/V go to a scratch store outside the pool; only what compression keeps enters it
    const scratch = this.backend.createStore(this.geometry);
    let prefilled;
    try {
      prefilled = await this.transformer.prefill(tokens, scratch);
    } finally {
      scratch.dispose();
    }
    const { logits, observations } = prefilled;
    const { method, limit, protectedWindow } = sequence.resolved;
    const plan = limit && tokens.length > protectedWindow // a prompt within the window has nothing to score yet
      ? await this.backend.plan({
          method,
          geometry: this.geometry,
          observations,
          budget: Math.min(tokens.length, this.budgetAfterPrefill(sequence, tokens.length)),
          options: this.methodOptions(protectedWindow),
          outputProjection: this.outputProjection,
        })
      : null;
    const store = this.pool.createStore();
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
    sequence.eviction = limit
      ? new DecodeEviction(this.backend, store, {
          method,
          maxTokensPerHead: limit,
          every: this.every,
          options: this.methodOptions(protectedWindow),
          outputProjection: this.outputProjection,
        })
      : null;
    await sequence.eviction?.afterPrefill(observations); // seeds the scoring queries; already within the limit
    if (plan) sequence.evictedTokens += plan.originalTotal - plan.achievedTotal;
    this.notePeak(sequence);
    this.running.push(sequence);
    if (sequence.tokens.length === 0) this.accept(sequence, this.pick(sequence, logits, tokens.length));
    return true;
  }

  /**
   * The method options every sequence runs with: its protected window, and the pool's block size, so a
   * joint method (KV-Compress) frees whole blocks of this pool.
   */
  private methodOptions(protectedWindow: number) {
    return { window: protectedWindow, blockSize: this.pool.blockSize };
  }

  private needsLogits(sequence: Sequence): boolean {
    return sequence.request.logitsProcessor !== undefined || sequence.resolved.logprobs > 0;
  }

  /** The next token from a sequence's logits: checked finite, processed, log-probabilities taken if asked, sampled. */
  private pick(sequence: Sequence, logits: Float32Array, position: number): Picked {
    checkLogits(logits, position);
    const processor = sequence.request.logitsProcessor;
    if (processor) {
      processor(logits, sequence.tokens);
      if (logits.some(Number.isNaN)) throw new InvalidNumberError(`The logits processor left NaN in the logits at position ${position}.`);
    }
    const token = sequence.sampler.sample(logits);
    const top = sequence.resolved.logprobs;
    if (top === 0) return { token };
    const logProbabilities = logSoftmax(logits);
    const best = Array.from(topKIndices(Float32Array.from(logProbabilities), top)).sort((a, b) => logProbabilities[b]! - logProbabilities[a]! || a - b);
    return { token, logprob: logProbabilities[token]!, topLogprobs: best.map((t) => ({ token: t, logprob: logProbabilities[t]! })) };
  }

  /** Takes a sampled token: into the sequence, its text, and the request's onToken. */
  private accept(sequence: Sequence, picked: Picked): void {
    const { token } = picked;
    sequence.tokens.push(token);
    const tokenizer = this.model.tokenizer;
    const end = tokenizer && tokenizer.isEndOfText(token);
    const piece = sequence.text && !end ? sequence.text.push(token) : '';
    sequence.output += piece;
    if (!(end && sequence.resolved.stopAtEndOfText)) sequence.request.onToken?.({ ...picked, text: piece });
  }

  private finishIfDone(sequence: Sequence): boolean {
    const last = sequence.tokens[sequence.tokens.length - 1];
    const tokenizer = this.model.tokenizer;
    const stop = sequence.resolved.stopAtEndOfText && tokenizer && last !== undefined && tokenizer.isEndOfText(last);
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
    if (sequence.eviction) sequence.evictedTokens += sequence.eviction.evictedTokens;
    sequence.store?.dispose();
    sequence.store = null;
    sequence.eviction = null;
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
      peakKvBytes: sequence.peakKvBytes,
    });
  }

  private notePeak(sequence: Sequence): void {
    if (sequence.store) sequence.peakKvBytes = Math.max(sequence.peakKvBytes, sequence.store.bytes());
  }

  /** How this pool keeps K/V. */
  private get kvFormat(): KvFormat {
    return this.options.kvFormat ?? 'f32';
  }

  /**
   * Entries per KV head (on average, window included) a sequence may keep within `bytes` of K/V in
   * this pool: whole blocks per head, one block per head spare for heads of uneven length, and in
   * int8/int4 each head's f32 block of recent rows (held until its block fills).
   */
  entriesForBytes(bytes: number): number {
    const { heads, residual, block, rows } = this.headBytes();
    return Math.max(0, (Math.floor((bytes / heads - residual) / block) - 1) * rows);
  }

  /** The fewest bytes {@link entriesForBytes} turns into at least `entries` per head (its inverse). */
  private bytesForEntries(entries: number): number {
    const { heads, residual, block, rows } = this.headBytes();
    return heads * ((Math.ceil(entries / rows) + 1) * block + residual);
  }

  /** What a byte limit counts in this pool: heads, a block's bytes and rows, each head's f32 residual. */
  private headBytes() {
    const { layers, kvHeads, headDim } = this.geometry;
    const rows = this.pool.blockSize;
    const residual = residualBytes(this.kvFormat, headDim, rows);
    return { heads: layers * kvHeads, residual, block: this.pool.blockBytes, rows };
  }

  private preempt(sequence: Sequence): void {
    this.release(sequence);
    sequence.preemptions++;
    this.queue.unshift(sequence);
  }

  private fail(sequence: Sequence, error: unknown): void {
    this.release(sequence);
    this.totals.failed++;
    sequence.reject(error);
  }

  private tooSmall(need: number, when: string): PoolExhaustedError {
    const { freeBlocks } = this.pool.stats();
    return new PoolExhaustedError(
      `This request needs ${need} more blocks ${when} with the whole pool to itself, but only ${freeBlocks} are free; ` +
        'give it a smaller cache (maxCacheTokens, compressionRatio or maxKvBytes), a shorter prompt, or a bigger pool.',
    );
  }
}
