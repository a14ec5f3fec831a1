import { OptionError } from '../errors.js';
import { getMethod } from '../methods/registry.js';
import type { Method } from '../methods/types.js';
import { checkSeed } from '../model/sampler.js';

/** One completion to run in a {@link Scheduler}. */
export interface CompletionRequest {
  /** Text (encoded with BOS) or token ids. */
  readonly prompt: string | readonly number[];
  /** Tokens to generate at most (default 64). */
  readonly maxTokens?: number;
  /** 0 = greedy (default). */
  readonly temperature?: number;
  /** Nucleus sampling threshold (default 0.9; 1 turns it off); ignored when greedy. */
  readonly topP?: number;
  /** Seed of the sampler (default 42); ignored when greedy. */
  readonly seed?: number;
  /** Compression method (default `ada-snapkv`); `full` or no limit below means no compression. */
  readonly method?: string;
  /** Keep at most this many entries per KV head on average (window included). */
  readonly maxCacheTokens?: number;
  /** Or keep about 1/ratio of the tokens seen (ratio >= 1, e.g. 4 for 4x). */
  readonly compressionRatio?: number;
  /**
   * Or keep the sequence's K/V (all layers and KV heads) within this many bytes of the pool's format:
   * the most entries per KV head whose whole blocks fit, with room for heads of uneven length and, in
   * int8/int4, each head's f32 block of recent rows (the scheduler's `entriesForBytes`).
   */
  readonly maxKvBytes?: number;
  /** Most recent entries never evicted (default 16). */
  readonly protectedWindow?: number;
  /** Stop at BOS/EOS (default true). */
  readonly stopAtEndOfText?: boolean;
  /** Cancels the request; its blocks go back to the pool. */
  readonly signal?: AbortSignal;
  /**
   * Changes the next-token logits in place before sampling (penalties, biases): `generated` holds the
   * tokens sampled so far. With it the logits always come back from the backend.
   */
  readonly logitsProcessor?: (logits: Float32Array, generated: readonly number[]) => void;
  /** Log-probabilities to report with each token: the chosen one's and the `logprobs` most likely (0..20, default none). */
  readonly logprobs?: number;
  /** Called with each generated token as soon as it is sampled. */
  readonly onToken?: (event: GeneratedTokenEvent) => void;
}

/** One sampled token of a request. */
export interface GeneratedTokenEvent {
  /** The token id. */
  readonly token: number;
  /** The text it adds (may be empty while a multi-byte character is incomplete). */
  readonly text: string;
  /** With `logprobs`: its log-probability (after `logitsProcessor`, before temperature) ... */
  readonly logprob?: number;
  /** ... and the most likely tokens with theirs, most likely first. */
  readonly topLogprobs?: readonly {
    /** A token id. */
    readonly token: number;
    /** Its log-probability. */
    readonly logprob: number;
  }[];
}

export interface ResolvedRequest {
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
  readonly method: Method;
  /** Per-head limit as a function of tokens seen; null = keep everything. */
  readonly limit: ((seen: number) => number) | null;
  readonly protectedWindow: number;
  readonly stopAtEndOfText: boolean;
  /** Top log-probabilities to report per token (0 = none). */
  readonly logprobs: number;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new OptionError(`${name} must be a whole number >= 1, got ${value}.`);
  return value;
}

/**
 * Defaults filled in and every field checked; throws typed errors a server can turn into 400s.
 * `entriesForBytes` turns `maxKvBytes` into entries per KV head (the pool's block layout).
 */
export function resolveRequest(request: CompletionRequest, entriesForBytes: (bytes: number) => number = () => 0): ResolvedRequest {
  const maxTokens = positiveInteger(request.maxTokens ?? 64, 'maxTokens');
  const temperature = request.temperature ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0) throw new OptionError(`temperature must be >= 0, got ${temperature}.`);
  const topP = request.topP ?? 0.9;
  if (!(topP > 0 && topP <= 1)) throw new OptionError(`topP must be in (0, 1], got ${topP}.`);
  const seed = checkSeed(request.seed ?? 42);
  const method = getMethod(request.method ?? 'ada-snapkv');
  const protectedWindow = positiveInteger(request.protectedWindow ?? 16, 'protectedWindow');
  const { maxCacheTokens, compressionRatio, maxKvBytes } = request;
  const limits = ([['maxCacheTokens', maxCacheTokens], ['compressionRatio', compressionRatio], ['maxKvBytes', maxKvBytes]] as const).filter(([, v]) => v !== undefined);
  if (limits.length > 1) throw new OptionError(`Give one of maxCacheTokens, compressionRatio and maxKvBytes, not ${limits.map(([name]) => name).join(' and ')}.`);
  let limit: ResolvedRequest['limit'] = null;
  if (maxKvBytes !== undefined) {
    positiveInteger(maxKvBytes, 'maxKvBytes');
    const entries = entriesForBytes(maxKvBytes);
    limit = () => entries;
  } else if (maxCacheTokens !== undefined) {
    positiveInteger(maxCacheTokens, 'maxCacheTokens');
    limit = () => maxCacheTokens;
  } else if (compressionRatio !== undefined) {
    if (!Number.isFinite(compressionRatio) || compressionRatio < 1) {
      throw new OptionError(`compressionRatio must be a number >= 1 (e.g. 4 for 4x), got ${compressionRatio}.`);
    }
    limit = (seen) => Math.ceil(seen / compressionRatio);
  }
  if (method.scorer === null) limit = null;
  const logprobs = request.logprobs ?? 0;
  if (!Number.isInteger(logprobs) || logprobs < 0 || logprobs > 20) throw new OptionError(`logprobs must be a whole number from 0 to 20, got ${logprobs}.`);
  return { maxTokens, temperature, topP, seed, method, limit, protectedWindow, stopAtEndOfText: request.stopAtEndOfText ?? true, logprobs };
}
