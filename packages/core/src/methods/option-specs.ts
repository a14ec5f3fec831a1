import type { GroupReduce, Pooling } from '../scorers/types.js';
import { option } from './option-spec.js';

/**
 * The options the built-in methods share, declared once; each method file picks the ones it reads.
 * Defaults are the reference implementation's (w = 32, k = 7, max-pool, mean over GQA groups,
 * alpha = 0.2, beta = 20, 4 sinks). A method with a hyperparameter of its own declares it in its
 * own file with {@link option}.
 */

const wholeNumber = (min: number) => (value: unknown): value is number => Number.isInteger(value) && (value as number) >= min;

/** Every method declares it: the planner keeps these entries and metrics measure over their queries. */
export const windowOption = option({
  default: 32,
  doc: 'observation window: the last w prompt tokens, always kept, whose queries score the rest (about 16 for prompts of a few hundred tokens)',
  requirement: 'must be a whole number >= 1',
  isValid: wholeNumber(1),
});

/** SnapKV's pooling kernel `k` along the sequence (default 7, odd; 1 = no pooling). */
export const kernelSizeOption = option({
  default: 7,
  doc: 'SnapKV pooling kernel k along the sequence (odd; 1 = no pooling)',
  requirement: 'must be an odd whole number >= 1 (1 = no pooling)',
  isValid: (value: unknown): value is number => wholeNumber(1)(value) && value % 2 === 1,
});

/** SnapKV's pooling along the sequence: `max` (default) or `avg` (divides by `k`, counting the padding). */
export const poolingOption = option({
  default: 'max' as Pooling,
  doc: 'SnapKV pooling along the sequence: max or avg (avg divides by k, counting the padding)',
  requirement: 'must be "max" or "avg"',
  isValid: (value: unknown): value is Pooling => value === 'max' || value === 'avg',
});

/** GQA: how a group's query heads are combined before pooling, `mean` (default) or `max`. */
export const groupReduceOption = option({
  default: 'mean' as GroupReduce,
  doc: "GQA: how a group's query heads are combined before pooling (mean or max)",
  requirement: 'must be "mean" or "max"',
  isValid: (value: unknown): value is GroupReduce => value === 'mean' || value === 'max',
});

/** Ada-KV's safeguard: the share of each head's budget guaranteed to it (default 0.2; 1 = uniform split). */
export const alphaOption = option({
  default: 0.2,
  doc: "Ada-KV safeguard: the share of each head's budget guaranteed to it (1 = uniform split)",
  requirement: 'must be in [0, 1] (1 = uniform split)',
  isValid: (value: unknown): value is number => Number.isFinite(value) && (value as number) >= 0 && (value as number) <= 1,
});

/** PyramidKV's steepness (default 20): the top layer keeps about `floor(B' / beta)` selectable tokens. */
export const betaOption = option({
  default: 20,
  doc: "PyramidKV steepness: the top layer keeps about floor(B' / beta) selectable tokens",
  requirement: 'must be a positive number',
  isValid: (value: unknown): value is number => Number.isFinite(value) && (value as number) > 0,
});

/** StreamingLLM's attention sinks (default 4): the first tokens, always kept. */
export const sinksOption = option({
  default: 4,
  doc: 'StreamingLLM attention sinks: the first tokens, always kept',
  requirement: 'must be a whole number >= 0',
  isValid: wholeNumber(0),
});

/**
 * KV-Compress's block size (default 1): eviction counts are rounded so each (layer, KV head) gives
 * back whole blocks of this many entries and ends on a block boundary. Set it to the paged pool's
 * block size (the Scheduler does) to free whole blocks there; 1 evicts entry by entry.
 */
export const blockSizeOption = option({
  default: 1,
  doc: "entries per block for KV-Compress's rounding: each head frees whole blocks (the pool's block size; 1 = no rounding)",
  requirement: 'must be a whole number >= 1',
  isValid: wholeNumber(1),
});

/**
 * KV-Compress's limit on entries evicted by one decode-time compression (default 0 = no limit): bounds
 * the step's latency; a sequence still over its target is compressed again at the next step.
 */
export const maxEvictPerStepOption = option({
  default: 0,
  doc: 'most entries one decode-time compression evicts, bounding its latency (0 = no limit)',
  requirement: 'must be a whole number >= 0 (0 = no limit)',
  isValid: wholeNumber(0),
});
