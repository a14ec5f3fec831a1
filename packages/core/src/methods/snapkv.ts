import { snapkvScorer } from '../scorers/snapkv.js';
import { DEFAULT_METHOD_OPTIONS } from './defaults.js';
import type { Method } from './types.js';

/** SnapKV: observation-window attention, pooled; every head keeps its own top `B'` plus the window. Reads `window`, `kernelSize`, `pooling`, `groupReduce`. */
export const snapkv: Method = {
  name: 'snapkv',
  summary: 'Observation-window attention with pooling, the same budget for every head.',
  paper: 'SnapKV: LLM Knows What You are Looking for Before Generation, arXiv 2404.14469',
  scorer: snapkvScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  defaults: DEFAULT_METHOD_OPTIONS,
};
