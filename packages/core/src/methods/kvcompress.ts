import { squaredAttentionScorer } from '../scorers/squared-attention.js';
import { defineMethod } from './define-method.js';
import { blockSizeOption, maxEvictPerStepOption, windowOption } from './option-specs.js';

/**
 * KV-Compress (Rehg, 2024, arXiv 2410.00161; the paged re-implementation of Ada-KV that Cloudflare
 * serves in vLLM). Metric: the squared attention each cached entry received, summed over the query
 * heads of its KV head's group (no repeated K/V) and over the observed queries — the prompt's
 * observation window at prefill, then every decode query, kept as a running sum per entry. Eviction is
 * joint: one sort across all layers and KV heads of the sequence, so layers and heads end with
 * different sizes, with counts rounded so each head gives back whole blocks of `blockSize` entries;
 * `maxEvictPerStep` bounds a decode-time compression; the recent `window` is never touched.
 *
 * The reference code's names: `protected_window_size` is `window` here (the Scheduler's
 * `protectedWindow`), `compression_interval` is the eviction's `every` (the Scheduler's
 * `evictEvery`), `block_size` is `blockSize`; `max_kv_per_compression` limits the entries a
 * compression sorts, where `maxEvictPerStep` limits the entries it evicts.
 */
export const kvcompress = defineMethod({
  name: 'kvcompress',
  summary: 'Squared attention summed over query groups and every observed query, evicted jointly across layers and heads in whole blocks.',
  paper: 'KV-Compress: Paged KV-Cache Compression with Variable Compression Rates per Attention Head, arXiv 2410.00161',
  scorer: squaredAttentionScorer,
  schedule: 'uniform',
  allocation: 'joint',
  decodeScores: 'cumulative',
  options: {
    /** The protected recent window (default 32), whose prompt queries also score at prefill: the paper's `protected_window_size`. */
    window: windowOption,
    /** Entries per block for the rounding (default 1 = none; the Scheduler passes its pool's). */
    blockSize: blockSizeOption,
    /** Most entries one decode-time compression evicts (default 0 = no limit). */
    maxEvictPerStep: maxEvictPerStepOption,
  },
});
