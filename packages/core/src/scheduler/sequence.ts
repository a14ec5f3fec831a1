import type { DecodeEviction } from '../decode/decode-eviction.js';
import type { Sampler } from '../model/sampler.js';
import type { TokenTextStream } from '../model/tokenizer.js';
import type { KvStore } from '../store.js';
import type { CompletionRequest, ResolvedRequest } from './request.js';

/**
 * Why a completion ended: it reached `maxTokens` (`length`), the model ended the text (`stop`), or it was
 * cancelled.
 */
export type FinishReason = 'length' | 'stop' | 'cancelled';

/** A finished completion. */
export interface CompletionResult {
  /** The request's id (as its handle's). */
  readonly id: number;
  /** The prompt's tokens, BOS included. */
  readonly promptTokens: number[];
  /** The generated tokens (the stop token excluded). */
  readonly tokens: number[];
  /** Their text. */
  readonly text: string;
  /** Why it ended. */
  readonly finishReason: FinishReason;
  /** Times the sequence was put back in the queue to free memory (its tokens were kept). */
  readonly preemptions: number;
  /** Cache entries evicted over the sequence's life, all layers and heads. */
  readonly evictedTokens: number;
  /** The most bytes its K/V held at once (checked after prefill and after every decoded token). */
  readonly peakKvBytes: number;
}

/** A request's live state inside the scheduler. */
export interface Sequence {
  readonly id: number;
  readonly request: CompletionRequest;
  readonly resolved: ResolvedRequest;
  readonly promptTokens: number[];
  /** Sampled tokens; the last one is not yet forwarded through the model. */
  readonly tokens: number[];
  readonly sampler: Sampler;
  readonly text: TokenTextStream | null;
  output: string;
  store: KvStore | null;
  eviction: DecodeEviction | null;
  preemptions: number;
  evictedTokens: number;
  peakKvBytes: number;
  cancelled: boolean;
  readonly resolve: (result: CompletionResult) => void;
  readonly reject: (error: unknown) => void;
}

/** What `submit` returns: the result to await and a way to cancel. */
export interface CompletionHandle {
  /** The request's id, in submission order from 1. */
  readonly id: number;
  /** Settles when the request finishes (or rejects when it fails). */
  readonly result: Promise<CompletionResult>;
  /** Cancels the request; its blocks go back to the pool. */
  cancel(): void;
}
