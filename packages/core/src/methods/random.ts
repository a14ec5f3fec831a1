import { randomScorer } from '../scorers/random.js';
import { defineMethod } from './define-method.js';
import { option } from './option-spec.js';
import { blockSizeOption, maxEvictPerStepOption, windowOption } from './option-specs.js';

/** The random baseline's seed (default 0): any whole number from 0 to 2^53 - 1. */
export const seedOption = option({
  default: 0,
  doc: 'seed of the random baseline: each (layer, KV head, position) gets one fixed draw',
  requirement: 'must be a whole number from 0 to 2^53 - 1',
  isValid: (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0,
});

/**
 * Random eviction, the sanity baseline of KV-Compress (arXiv 2410.00161): every entry gets one seeded
 * uniform draw for life, and eviction runs as KV-Compress's does — one sort across all layers and KV
 * heads, whole blocks, the recent `window` protected — so it differs from it only in the metric.
 */
export const random = defineMethod({
  name: 'random',
  summary: 'Seeded random eviction with KV-Compress\'s joint sort and block rounding (a sanity baseline).',
  paper: 'KV-Compress: Paged KV-Cache Compression with Variable Compression Rates per Attention Head (random baseline), arXiv 2410.00161',
  scorer: randomScorer,
  schedule: 'uniform',
  allocation: 'joint',
  options: {
    /** The protected recent window (default 32). */
    window: windowOption,
    /** Seed of the draws (default 0). */
    seed: seedOption,
    /** Entries per block for the rounding (default 1 = none). */
    blockSize: blockSizeOption,
    /** Most entries one decode-time compression evicts (default 0 = no limit). */
    maxEvictPerStep: maxEvictPerStepOption,
  },
});
