import type { KvFormat } from '@adakv/core';
import { AdakvError, type SchedulerTotals, type StepMetrics } from '@adakv/core';

// The messages between the HTTP thread and the engine (a worker thread that owns the model, the
// backend and the scheduler). Everything here crosses a MessagePort, so it is plain data.

/** A model file the engine loads itself: a llama2.c checkpoint (with its tokenizer) or a GGUF. */
export interface ModelFile {
  readonly path: string;
  /** tokenizer.bin of a llama2.c checkpoint (default: the one next to it). */
  readonly tokenizerPath?: string;
}

/** What the engine needs to start, besides the model. */
export interface EngineSettings {
  /** KV blocks in the shared pool (fixed: the server's cache memory budget). */
  readonly poolBlocks: number;
  readonly blockSize: number;
  readonly maxBatch: number;
  /** How the pool stores K/V (default f32). */
  readonly kvFormat?: KvFormat;
}

/** `workerData` of the engine worker. */
export interface WorkerInit extends EngineSettings {
  readonly model: ModelFile;
  readonly backend: 'wasm' | 'webgpu' | 'auto';
  readonly threads?: number;
}

/** What the engine says about itself once the model is loaded. */
export interface EngineInfo {
  readonly contextLength: number;
  readonly vocabSize: number;
  /** The backend, in words (the wasm build and its threads, or the GPU adapter). */
  readonly backend: string;
  /** Why `auto` fell back, when it did. */
  readonly notice: string | null;
  readonly poolBlocks: number;
  readonly blockSize: number;
  /** Decode steps between a sequence's evictions: `max_cache_tokens` must leave room for them. */
  readonly evictEvery: number;
  /** Where chat prompts come from: the model's own template, or adakv's plain one. */
  readonly chatTemplate: 'model' | 'plain';
}

/** The engine's state after its last step: what /health and /metrics show. */
export interface EngineState {
  readonly running: number;
  readonly queued: number;
  readonly usedBlocks: number;
  readonly freeBlocks: number;
  /** Bytes held by used blocks. */
  readonly heldBytes: number;
  readonly totals: SchedulerTotals;
  readonly lastStep: StepMetrics | null;
  /** `performance.timeOrigin + performance.now()` when this state was taken. */
  readonly at: number;
}

/** Sampling and cache settings of every sequence of a job. */
export interface SequenceParams {
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly topP?: number;
  /** The job's seed; choice `i` samples with a seed derived from it ({@link choiceSeed}). */
  readonly seed?: number;
  readonly method?: string;
  readonly maxCacheTokens?: number;
  readonly compressionRatio?: number;
  readonly maxKvBytes?: number;
  readonly protectedWindow?: number;
  /** OpenAI's penalties: each token's logit minus `count x frequency + (count > 0) x presence`, counting generated tokens. */
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** [token id, bias] pairs added to the logits before sampling (OpenAI's `logit_bias`). */
  readonly logitBias?: readonly (readonly [number, number])[];
  /** Report each token's log-probability and this many most likely alternatives (undefined: none). */
  readonly logprobs?: number;
}

/** One token's text as UTF-8 bytes and as a string (invalid UTF-8 shown as U+FFFD), with its log-probability. */
export interface TokenLogprob {
  readonly token: string;
  readonly bytes: number[];
  readonly logprob: number;
}

/** A generated token's log-probability, its most likely alternatives, and where its text starts in the answer. */
export interface LogprobEntry extends TokenLogprob {
  /** Characters of the answer before this token's text. */
  readonly offset: number;
  readonly top: readonly TokenLogprob[];
}

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly content: string;
}

/** One HTTP request's work: `n` sequences per prompt (a chat is one prompt). */
export interface JobSpec {
  readonly input: { readonly kind: 'completion'; readonly prompts: readonly (string | readonly number[])[] } | { readonly kind: 'chat'; readonly messages: readonly ChatMessage[] };
  readonly n: number;
  readonly params: SequenceParams;
  /** Generation stops when the text contains one of these; the answer excludes it. */
  readonly stop: readonly string[];
  /** Send every token's text as it comes (otherwise only the first token's timing and the results). */
  readonly stream: boolean;
  /** Epoch milliseconds (`performance.timeOrigin + performance.now()`) when the request arrived. */
  readonly receivedAt: number;
}

/** An error as it crosses the port. */
export interface WireError {
  /** True for an `AdakvError` (its `code` is then an `AdakvErrorCode`). */
  readonly adakv: boolean;
  readonly code: string | null;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** What one choice ended with. */
export interface ChoiceResult {
  /** The whole answer (without a stop string that ended it). */
  readonly text: string;
  /** Text not yet sent as tokens (a stream sends it before the finish). */
  readonly tail: string;
  readonly finishReason: 'stop' | 'length' | 'cancelled';
  /** With `logprobs`: every token of the answer's (a stop string's tokens left out), else null. */
  readonly logprobs: readonly LogprobEntry[] | null;
  /** The entries of `tail`'s tokens (a stream sends them with it). */
  readonly tailLogprobs: readonly LogprobEntry[];
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly evictedTokens: number;
  /** The most bytes the choice's K/V held at once. */
  readonly peakKvBytes: number;
  readonly preemptions: number;
}

export type ToEngine =
  | ({ readonly type: 'submit'; readonly job: number } & JobSpec)
  | { readonly type: 'cancel'; readonly job: number }
  | { readonly type: 'inspect'; readonly id: number }
  | { readonly type: 'close'; readonly drain: boolean }
  | { readonly type: 'dispose' };

export type FromEngine =
  | { readonly type: 'ready'; readonly info: EngineInfo; readonly state: EngineState }
  | { readonly type: 'load-failed'; readonly error: WireError }
  | { readonly type: 'rejected'; readonly job: number; readonly error: WireError }
  /** A choice's first token was sampled: how long it waited for the scheduler, and its prefill. */
  | { readonly type: 'first'; readonly job: number; readonly choice: number; readonly at: number; readonly queueMs: number; readonly prefillMs: number }
  | { readonly type: 'token'; readonly job: number; readonly choice: number; readonly text: string; readonly logprobs?: readonly LogprobEntry[] }
  | { readonly type: 'done'; readonly job: number; readonly choice: number; readonly result: ChoiceResult }
  | { readonly type: 'failed'; readonly job: number; readonly choice: number; readonly error: WireError }
  | { readonly type: 'state'; readonly state: EngineState }
  | { readonly type: 'inspection'; readonly id: number; readonly state: EngineState; readonly poolError: string | null }
  | { readonly type: 'closed' }
  | { readonly type: 'disposed' };

const SEED_MASK = (1n << 53n) - 1n;

/**
 * The seed of choice `index` of a job seeded `seed`: the seed itself for the first choice (so `n: 1`
 * samples exactly as before), and for the others a mix of both that stays a valid seed (0 to 2^53 - 1)
 * and differs from the first choices of neighbouring seeds.
 */
export function choiceSeed(seed: number, index: number): number {
  if (index === 0) return seed;
  const mixed = (BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(index) * 0xbf58476d1ce4e5b9n) & SEED_MASK;
  return Number(mixed ^ (mixed >> 29n));
}

export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      adakv: error instanceof AdakvError,
      code: typeof code === 'string' ? code : null,
      name: error.name,
      message: error.message,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
    };
  }
  return { adakv: false, code: null, name: 'Error', message: String(error) };
}
