import { defineMethod } from './define-method.js';
import { windowOption } from './option-specs.js';

/** No compression: every entry is kept. The baseline every method is measured against. Reads `window` (metrics measure over it). */
export const full = defineMethod({
  name: 'full',
  summary: 'Keep the whole cache (the baseline).',
  paper: 'Attention Is All You Need, arXiv 1706.03762',
  scorer: null,
  schedule: 'uniform',
  allocation: 'uniform',
  options: {
    /** Observation window `w` (default 32): the last `w` prompt tokens, always kept, whose queries score the rest. */
    window: windowOption,
  },
});
