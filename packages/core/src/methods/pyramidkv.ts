import { snapkvScorer } from '../scorers/snapkv.js';
import { DEFAULT_METHOD_OPTIONS } from './defaults.js';
import type { Method } from './types.js';

/** PyramidKV: SnapKV scores with a pyramid of layer budgets (lower layers keep more). Reads SnapKV's options and `beta`. */
export const pyramidkv: Method = {
  name: 'pyramidkv',
  summary: 'SnapKV scores, layer budgets shrinking with depth.',
  paper: 'PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling, arXiv 2406.02069',
  scorer: snapkvScorer,
  schedule: 'pyramid',
  allocation: 'uniform',
  defaults: DEFAULT_METHOD_OPTIONS,
};
