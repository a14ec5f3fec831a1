import { snapkvScorer } from '../scorers/snapkv.js';
import { defineMethod } from './define-method.js';
import { betaOption, groupReduceOption, kernelSizeOption, poolingOption, windowOption } from './option-specs.js';

/** PyramidKV: SnapKV scores with a pyramid of layer budgets (lower layers keep more). */
export const pyramidkv = defineMethod({
  name: 'pyramidkv',
  summary: 'SnapKV scores, layer budgets shrinking with depth.',
  paper: 'PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling, arXiv 2406.02069',
  scorer: snapkvScorer,
  schedule: 'pyramid',
  allocation: 'uniform',
  options: {
    /** Observation window `w` (default 32): the last `w` prompt tokens, always kept, whose queries score the rest. */
    window: windowOption,
    /** SnapKV's pooling kernel `k` along the sequence (default 7; 1 = no pooling). */
    kernelSize: kernelSizeOption,
    /** SnapKV's pooling along the sequence: `max` (default) or `avg`. */
    pooling: poolingOption,
    /** GQA: how a group's query heads combine, `mean` (default) or `max`. */
    groupReduce: groupReduceOption,
    /** PyramidKV's steepness (default 20): the top layer keeps about `floor(B' / beta)` selectable tokens. */
    beta: betaOption,
  },
});
