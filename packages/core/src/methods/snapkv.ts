import { snapkvScorer } from '../scorers/snapkv.js';
import { defineMethod } from './define-method.js';
import { groupReduceOption, kernelSizeOption, poolingOption, windowOption } from './option-specs.js';

/** SnapKV: observation-window attention, pooled; every head keeps its own top `B'` plus the window. */
export const snapkv = defineMethod({
  name: 'snapkv',
  summary: 'Observation-window attention with pooling, the same budget for every head.',
  paper: 'SnapKV: LLM Knows What You are Looking for Before Generation, arXiv 2404.14469',
  scorer: snapkvScorer,
  schedule: 'uniform',
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
  },
});
