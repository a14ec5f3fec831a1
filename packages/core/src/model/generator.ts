import type { Backend, ForwardPass } from '../backends/backend.js';
import type { KvFormat } from '../backends/kv-format.js';
import { ReferenceBackend } from '../backends/reference/index.js';
import { DecodeEviction, type DecodeEvictionOptions } from '../decode/decode-eviction.js';
import { ContextOverflowError, OptionError } from '../errors.js';
import type { BytePlan } from '../quantization/plan-for-bytes.js';
import { type KvByteBudget, storeForBytes } from '../quantization/store-for-bytes.js';
import { type OutputProjection, modelOutputProjection } from '../scorers/output-projection.js';
import type { KvStore } from '../store.js';
import { cacheGeometry } from './config.js';
import { checkLogits } from './forward-checks.js';
import type { PrefillOutput } from './forward.js';
import type { Model } from './model.js';
import type { LayerObservation } from './observation.js';
import { Rng, Sampler } from './sampler.js';
import { TokenTextStream } from './tokenizer.js';

/**
 * Runs once at the end of every prefill, before the first decoded token: the place where a
 * compression method evicts from the store, planning from what prefill observed. Its result is
 * returned with the prefill output.
 */
export type AfterPrefill<T = unknown> = (input: {
  readonly store: KvStore;
  /**
   * What each layer saw of the prompt; empty when a prompt longer than `prefillChunk` went through in
   * chunks (then `backend.compress(store, observations, request)` plans from the store: the prompt's
   * last queries, recorded as it passed, score every stored entry).
   */
  readonly observations: readonly LayerObservation[];
  /** The generator's backend: `backend.compress(store, observations, request)` plans where the data lives. */
  readonly backend: Backend;
  /**
   * The model's attention output projections, for a request whose method weighs values through W_o
   * (`criti-snapkv`): `backend.compress(store, observations, { ...request, outputProjection })`.
   */
  readonly outputProjection: OutputProjection;
}) => T | Promise<T>;

/** Where a {@link Generator} runs, and what it does after prefill and while decoding. */
export interface GeneratorOptions {
  /** Where the model and its cache run (see `chooseBackend`); the reference backend by default. */
  backend?: Backend;
  /** The sequence's store, made by `backend`; a fresh `backend.createStore(...)` by default. */
  store?: KvStore;
  /**
   * How the store made for this generator keeps K/V (default `f32`): `f16`, `int8` or `int4` on the wasm
   * and webgpu backends (about 0.5x, 0.29x and 0.17x of the f32 bytes). Not with `store`.
   */
  kvFormat?: KvFormat;
  /** Compression (or any inspection) at the end of prefill. */
  afterPrefill?: AfterPrefill;
  /**
   * One byte budget for the sequence's K/V: after prefill the planner (`planForBytes`) chooses the
   * storage format and the entries per KV head that fit, and the generator's store becomes a store of
   * that format holding only them (`generator.store` changes; decoded tokens add one entry per head
   * each, as after any prefill compression). The prompt goes through in one pass (the plan reads
   * its observations). Not with `store`, `kvFormat`, `afterPrefill` or `eviction`.
   */
  kvBytes?: KvByteBudget;
  /**
   * Decode-time eviction: keeps every layer within a cache limit while decoding (after `afterPrefill`).
   * The model's output projection is handed to it unless the options give one.
   */
  eviction?: DecodeEvictionOptions;
  /**
   * Most prompt tokens one forward call takes (default 512). A longer prompt goes through in chunks,
   * each attending to the cache the earlier ones filled, so the activations stay bounded and no copy
   * of the prompt's q/k/v is kept: compression then plans from the store.
   */
  prefillChunk?: number;
  /**
   * Query rows of a chunked prompt kept for planning compression (default 64; at least the
   * eviction's window): a method's observation window must not be larger.
   */
  promptQueryRows?: number;
}

/** What {@link Generator.prefill} reports while a long prompt goes through in chunks. */
export interface PrefillProgress {
  /** Prompt tokens processed so far. */
  readonly done: number;
  /** Prompt tokens in all. */
  readonly total: number;
}

/** What {@link Generator.prefill} returns. */
export interface PrefillResult {
  /** Logits predicting the token after the prompt (a copy). */
  readonly logits: Float32Array;
  /** What each layer saw (post-RoPE q, k, v of the prompt), for planning compression; empty for a chunked prompt. */
  readonly observations: readonly LayerObservation[];
  /** What `afterPrefill` returned, if set. */
  readonly afterPrefill: unknown;
  /** With `kvBytes`: the format and entries chosen, and every format considered. */
  readonly bytePlan?: BytePlan;
}

/** One generated token, as `onToken` receives it. */
export interface GeneratedToken {
  /** The token id. */
  readonly token: number;
  /** The text this token adds (may be empty while a multi-byte character is incomplete). */
  readonly text: string;
  /** Position of the token in the sequence. */
  readonly position: number;
}

/** How {@link Generator.generate} samples and when it stops. */
export interface GenerateOptions {
  /** Tokens to generate; the rest of the context by default. */
  steps?: number;
  /** 0 = greedy (default). */
  temperature?: number;
  /** Nucleus sampling threshold, 0.9 by default as llama2.c; 1 turns it off. */
  topP?: number;
  /** Seed of the sampler's xorshift generator (default 42); ignored when greedy. */
  seed?: number;
  /** Stop at an end-of-text token (`tokenizer.isEndOfText`: EOS, EOT, BOS, ...; default true); the stop token is not reported. */
  stopAtEndOfText?: boolean;
  /** Called for every generated token as soon as it is sampled. */
  onToken?: (token: GeneratedToken) => void;
  /** Called after each chunk of a prompt longer than `prefillChunk` (see {@link PrefillProgress}). */
  onPrefillProgress?: (progress: PrefillProgress) => void;
}

/** What {@link Generator.generate} returns. */
export interface GenerateResult {
  /** The prompt's tokens, BOS included. */
  readonly promptTokens: number[];
  /** The generated tokens (a stop token excluded). */
  readonly tokens: number[];
  /** Their text. */
  readonly text: string;
  /** Why generation stopped: the steps were done, or the model ended the text. */
  readonly stopReason: 'steps' | 'end-of-text';
  /** What prefill returned. */
  readonly prefill: PrefillResult;
  /** Prefill time (`afterPrefill` included). */
  readonly prefillMs: number;
  /** Decode time. */
  readonly decodeMs: number;
  /** Prompt tokens per second of the batched prefill. */
  readonly prefillTokensPerSecond: number;
  /** Forwarded tokens per second during decode (NaN when no token was forwarded). */
  readonly decodeTokensPerSecond: number;
}

/** What {@link Generator.continue} returns: {@link GenerateResult}, with `prefill` only when the call prefilled a fresh session. */
export type ContinueResult = Omit<GenerateResult, 'prefill'> & {
  /** What prefill returned, when this call started the sequence; null when it continued one. */
  readonly prefill: PrefillResult | null;
};

/**
 * One sequence's generation session: a model, a KV store, a position. `prefill` processes a prompt
 * as one batch, `step` forwards one token, `generate` does both and samples, streaming tokens.
 */
export class Generator {
  /** Where the model and its cache run. */
  readonly backend: Backend;
  /** The sequence's KV cache. */
  private current: KvStore;
  /** The decode-time eviction policy, when `eviction` was given (its counters say what it evicted). */
  readonly eviction: DecodeEviction | null;
  private readonly transformer: ForwardPass;
  private readonly afterPrefill: AfterPrefill | undefined;
  private readonly kvBytes: KvByteBudget | undefined;
  /** Whether the store holds a byte plan's entries (a new prompt starts again in a full f32 store). */
  private bytePlanned = false;
  private readonly prefillChunk: number;
  private readonly promptQueryRows: number;
  private nextPosition = 0;
  /** The last sampled token when it has not been forwarded yet (the next `continue` forwards it first). */
  private pending: number | null = null;

  /** @param model The model to run. */
  constructor(readonly model: Model, options: GeneratorOptions = {}) {
    this.backend = options.backend ?? new ReferenceBackend();
    if (options.store && options.kvFormat) throw new OptionError('Give a store or a kvFormat for the store the generator makes, not both.');
    if (options.kvBytes) {
      const clash = (['store', 'kvFormat', 'afterPrefill', 'eviction'] as const).filter((name) => options[name] !== undefined);
      if (clash.length > 0) throw new OptionError(`kvBytes chooses the store, its format and what it keeps; drop ${clash.join(', ')}.`);
    }
    this.kvBytes = options.kvBytes;
    this.current = options.store ?? this.backend.createStore(cacheGeometry(model.config), options.kvFormat ? { kvFormat: options.kvFormat } : {});
    if (!this.backend.owns(this.store)) {
      throw new OptionError(`The store was not made by the ${this.backend.name} backend; create it with backend.createStore(...), or pass the backend that made it.`);
    }
    this.afterPrefill = options.afterPrefill;
    this.prefillChunk = wholeAtLeastOne(options.prefillChunk ?? 512, 'prefillChunk');
    this.promptQueryRows = wholeAtLeastOne(options.promptQueryRows ?? 64, 'promptQueryRows');
    this.transformer = this.backend.forwardPass(model);
    this.eviction = options.eviction
      ? new DecodeEviction(this.backend, this.store, { outputProjection: modelOutputProjection(model), ...options.eviction })
      : null;
  }

  /** The model's weights as the backend holds them: bytes resident and parameters (bytes per parameter = their ratio). */
  get weights(): ForwardPass['weights'] {
    return this.transformer.weights;
  }

  /** The sequence's KV store (with `kvBytes`, the byte plan's store after each prefill). */
  get store(): KvStore {
    return this.current;
  }

  /** Position the next token will take (= tokens processed so far). */
  get position(): number {
    return this.nextPosition;
  }

  /** Empties the store (and the recorded queries) and starts a new sequence at position 0. */
  reset(): void {
    const { layers, kvHeads } = this.store.geometry;
    const none = Array.from({ length: kvHeads }, () => new Int32Array(0));
    for (let layer = 0; layer < layers; layer++) this.store.compact(layer, none);
    this.eviction?.reset();
    this.nextPosition = 0;
    this.pending = null;
  }

  /**
   * Processes `tokens` at positions 0..n-1 (the session must be fresh or reset): as one batch, or in
   * chunks of `prefillChunk` for a longer prompt, reporting each to `onProgress`.
   */
  async prefill(tokens: readonly number[], onProgress?: (progress: PrefillProgress) => void): Promise<PrefillResult> {
    if (this.nextPosition !== 0) {
      throw new OptionError('prefill starts a sequence, but this session is at position ' +
        `${this.nextPosition}; call reset() first, or step() to continue the sequence.`);
    }
    if (this.bytePlanned) {
      this.current.dispose();
      this.current = this.backend.createStore(cacheGeometry(this.model.config));
      this.bytePlanned = false;
    }
    const chunked = tokens.length > this.prefillChunk && !this.kvBytes;
    if (chunked) this.store.recordQueries(Math.max(this.promptQueryRows, this.eviction?.options.window ?? 0));
    let output: PrefillOutput | undefined;
    for (let start = 0; start < tokens.length; start += this.prefillChunk) {
      const chunk = chunked ? tokens.slice(start, start + this.prefillChunk) : tokens;
      output = await this.transformer.prefill(chunk, this.store, { start, observations: !chunked });
      if (chunked) onProgress?.({ done: start + chunk.length, total: tokens.length });
    }
    const { logits, observations } = output ?? (await this.transformer.prefill(tokens, this.store)); // no tokens: the pass says why
    checkLogits(logits, tokens.length);
    this.nextPosition = tokens.length;
    const afterPrefill = this.afterPrefill
      ? await this.afterPrefill({ store: this.store, observations, backend: this.backend, outputProjection: modelOutputProjection(this.model) })
      : undefined;
    if (this.eviction) await this.eviction.afterPrefill(chunked ? tokens.length : observations);
    else if (chunked) this.store.recordQueries(0);
    if (!this.kvBytes) return { logits, observations, afterPrefill };
    const planned = await storeForBytes(this.backend, this.current, observations, this.kvBytes, modelOutputProjection(this.model));
    this.bytePlanned = planned.store !== this.current;
    this.current = planned.store;
    return { logits, observations, afterPrefill, bytePlan: planned.plan };
  }

  /** Forwards `token` at the current position; returns the next-token logits (reused by the next call). */
  async step(token: number): Promise<Float32Array> {
    const position = this.nextPosition;
    const logits = await this.transformer.decode(token, position, this.store);
    this.nextPosition++;
    checkLogits(logits, this.nextPosition);
    await this.eviction?.afterStep(position);
    return logits;
  }

  /**
   * Forwards `token` and picks the next one with `sampler`. Greedy sampling takes the argmax where
   * the logits are (on the GPU only the chosen token comes back, not the logits).
   */
  async stepAndSample(token: number, sampler: Sampler): Promise<number> {
    if (sampler.options.temperature !== 0) return sampler.sample(await this.step(token));
    const position = this.nextPosition;
    const [next] = await this.transformer.decodeGreedy([token], [position], [this.store]);
    this.nextPosition++;
    await this.eviction?.afterStep(position);
    return next!;
  }

  /** Encodes `prompt` (BOS first) or takes its tokens, prefills, then samples `steps` tokens. */
  async generate(prompt: string | readonly number[], options: GenerateOptions = {}): Promise<GenerateResult> {
    const promptTokens = typeof prompt === 'string' ? this.encodePrompt(prompt) : [...prompt];
    if (promptTokens.length === 0) throw new OptionError('The prompt has no tokens; give at least one.');
    this.checkRoom(promptTokens.length, options.steps);
    if (this.nextPosition !== 0) this.reset();
    return (await this.continue(promptTokens, options)) as GenerateResult;
  }

  /**
   * Continues the sequence with `tokens` (a chat's next turn): a fresh session prefills them, a
   * running one forwards them step by step after what its cache holds (compressed or evicted as it
   * is, decode-time eviction keeping it within its limit), then samples up to `steps` tokens. The last
   * sampled token is forwarded at the start of the next call, unless it ended the text.
   */
  async continue(tokens: readonly number[], options: GenerateOptions = {}): Promise<ContinueResult> {
    const fed = [...(this.pending === null ? [] : [this.pending]), ...tokens];
    if (fed.length === 0) throw new OptionError('There is nothing to continue with; give at least one token.');
    const steps = this.checkRoom(this.nextPosition + fed.length, options.steps);
    const sampler = new Sampler(
      this.model.config.vocabSize,
      { temperature: options.temperature ?? 0, topP: options.topP ?? 0.9 },
      new Rng(options.seed ?? 42),
    );
    const stopAtEndOfText = options.stopAtEndOfText ?? true;
    const tokenizer = this.model.tokenizer;
    this.pending = null;

    const prefillStart = performance.now();
    let prefill: PrefillResult | null = null;
    let logits: Float32Array;
    if (this.nextPosition === 0) {
      prefill = await this.prefill(fed, options.onPrefillProgress);
      logits = prefill.logits;
    } else {
      logits = new Float32Array(0);
      for (let i = 0; i < fed.length; i++) {
        logits = await this.step(fed[i]!);
        options.onPrefillProgress?.({ done: i + 1, total: fed.length });
      }
    }
    const prefillMs = performance.now() - prefillStart;

    const text = tokenizer ? new TokenTextStream(tokenizer, fed[fed.length - 1]) : undefined;
    const generated: number[] = [];
    let output = '';
    let next = sampler.sample(logits);
    let stopReason: GenerateResult['stopReason'] = 'steps';
    const decodeStart = performance.now();
    for (let i = 0; i < steps; i++) {
      const token = next;
      if (stopAtEndOfText && tokenizer && tokenizer.isEndOfText(token)) {
        stopReason = 'end-of-text';
        break;
      }
      const piece = text ? text.push(token) : '';
      output += piece;
      generated.push(token);
      options.onToken?.({ token, text: piece, position: this.nextPosition });
      if (i + 1 < steps) next = await this.stepAndSample(token, sampler);
      else this.pending = token;
    }
    const decodeMs = performance.now() - decodeStart;
    if (text) output += text.flush();
    const forwarded = Math.max(0, generated.length - (stopReason === 'steps' ? 1 : 0));
    return {
      promptTokens: fed,
      tokens: generated,
      text: output,
      stopReason,
      prefill,
      prefillMs,
      decodeMs,
      prefillTokensPerSecond: (fed.length * 1000) / prefillMs,
      decodeTokensPerSecond: forwarded === 0 ? NaN : (forwarded * 1000) / decodeMs,
    };
  }

  /** The steps to take (the rest of the context by default), refusing a sequence past the context. */
  private checkRoom(length: number, requested: number | undefined): number {
    const { contextLength } = this.model.config;
    if (length > contextLength) {
      throw new ContextOverflowError(
        `The sequence would be ${length} tokens, longer than the model's context of ${contextLength}; shorten the prompt` +
          `${this.nextPosition > 0 ? ' or start a new sequence (reset())' : ''}.`,
      );
    }
    const room = contextLength - length;
    const steps = requested ?? room;
    if (!Number.isInteger(steps) || steps < 0) throw new OptionError(`steps must be a whole number >= 0, got ${steps}.`);
    if (steps > room) {
      throw new ContextOverflowError(
        `${length} tokens + ${steps} steps exceed the model's context of ${contextLength}; ask for at most ${room} steps or shorten the prompt.`,
      );
    }
    return steps;
  }

  private encodePrompt(prompt: string): number[] {
    const tokenizer = this.model.tokenizer;
    if (!tokenizer) {
      throw new OptionError('This model was loaded without a tokenizer; pass prompt token ids, or load its tokenizer.');
    }
    if (prompt.length === 0) throw new OptionError('The prompt is empty; give some text to continue.');
    // text that cannot fit the context is refused before any time goes into encoding it
    return tokenizer.encode(prompt, { maxTokens: this.model.config.contextLength });
  }
}

function wholeAtLeastOne(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new OptionError(`${name} must be a whole number >= 1, got ${value}.`);
  return value;
}
