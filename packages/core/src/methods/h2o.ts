import { h2oScorer } from '../scorers/h2o.js';
import { defineMethod } from './define-method.js';
import { groupReduceOption, windowOption } from './option-specs.js';

/** H2O: entries that received the most attention over the prompt, plus a protected recent window. */
export const h2o = defineMethod({
  name: 'h2o',
  summary: 'Heavy hitters by cumulative attention, plus a recent window.',
  paper: 'H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models, arXiv 2306.14048',
  scorer: h2oScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  options: {
    /** Observation window `w` (default 32): the last `w` prompt tokens, always kept, whose queries score the rest. */
    window: windowOption,
    /** GQA: how a group's query heads combine, `mean` (default) or `max`. */
    groupReduce: groupReduceOption,
  },
});
