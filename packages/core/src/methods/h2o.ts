import { h2oScorer } from '../scorers/h2o.js';
import { defineMethod } from './define-method.js';
import { groupReduceOption, windowOption } from './option-specs.js';

/**
 * H2O as published: heavy hitters by cumulative attention — the attention each entry received from
 * every prompt query at prefill, then, while decoding, a running sum per entry over every decode
 * query too (`decodeScores: 'cumulative'`) — plus a protected recent window. The budget is split
 * between the two: `window` recent entries and `budget - window` heavy hitters (the paper's equal
 * split is `window = budget / 2`).
 */
export const h2o = defineMethod({
  name: 'h2o',
  summary: 'Heavy hitters by cumulative attention over prompt and decode queries, plus a recent window.',
  paper: 'H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models, arXiv 2306.14048',
  scorer: h2oScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  decodeScores: 'cumulative',
  options: {
    /** Observation window `w` (default 32): the last `w` prompt tokens, always kept, whose queries score the rest. */
    window: windowOption,
    /** GQA: how a group's query heads combine, `mean` (default) or `max`. */
    groupReduce: groupReduceOption,
  },
});
