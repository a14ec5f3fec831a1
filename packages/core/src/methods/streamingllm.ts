import { streamingScorer } from '../scorers/streaming.js';
import { defineMethod } from './define-method.js';
import { sinksOption, windowOption } from './option-specs.js';

/** StreamingLLM: `sinks` first tokens plus the most recent ones, the same for every head. */
export const streamingllm = defineMethod({
  name: 'streamingllm',
  summary: 'Attention sinks plus a recent window, equal for every head.',
  paper: 'Efficient Streaming Language Models with Attention Sinks, arXiv 2309.17453',
  scorer: streamingScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  options: {
    /** Observation window `w` (default 32): the last `w` prompt tokens, always kept, whose queries score the rest. */
    window: windowOption,
    /** StreamingLLM's attention sinks (default 4): the first tokens, always kept. */
    sinks: sinksOption,
  },
});
