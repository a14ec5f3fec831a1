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
  options: { window: windowOption, kernelSize: kernelSizeOption, pooling: poolingOption, groupReduce: groupReduceOption, beta: betaOption },
});
