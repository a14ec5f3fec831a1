import { h2oScorer } from '../scorers/h2o.js';
import { DEFAULT_METHOD_OPTIONS } from './defaults.js';
import type { Method } from './types.js';

/** H2O: entries that received the most attention over the prompt, plus a protected recent window. Reads `window`, `groupReduce`. */
export const h2o: Method = {
  name: 'h2o',
  summary: 'Heavy hitters by cumulative attention, plus a recent window.',
  paper: 'H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models, arXiv 2306.14048',
  scorer: h2oScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  defaults: DEFAULT_METHOD_OPTIONS,
};
