import type { DecodeEviction } from '../decode/decode-eviction.js';
import type { Sampler } from '../model/sampler.js';
import type { TokenTextStream } from '../model/tokenizer.js';
import type { KvStore } from '../store.js';
import type { CompletionRequest, ResolvedRequest } from './request.js';

export type FinishReason = 'length' | 'stop' | 'cancelled';

export interface CompletionResult {
  readonly id: number;
  readonly promptTokens: number[];
  readonly tokens: number[];
  readonly text: string;
  readonly finishReason: FinishReason;
  /** Times the sequence was put back in the queue to free memory (its tokens were kept). */
  readonly preemptions: number;
  /** Cache entries evicted over the sequence's life, all layers and heads. */
  readonly evictedTokens: number;
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
  cancelled: boolean;
  readonly resolve: (result: CompletionResult) => void;
  readonly reject: (error: unknown) => void;
}

/** What `submit` returns: the result to await and a way to cancel. */
export interface CompletionHandle {
  readonly id: number;
  readonly result: Promise<CompletionResult>;
  cancel(): void;
}
