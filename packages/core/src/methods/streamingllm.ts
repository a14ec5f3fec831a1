import { streamingScorer } from '../scorers/streaming.js';
import { DEFAULT_METHOD_OPTIONS } from './defaults.js';
import type { Method } from './types.js';

/** StreamingLLM: `sinks` first tokens plus the most recent ones, the same for every head. Reads `sinks`, `window`. */
export const streamingllm: Method = {
  name: 'streamingllm',
  summary: 'Attention sinks plus a recent window, equal for every head.',
  paper: 'Efficient Streaming Language Models with Attention Sinks, arXiv 2309.17453',
  scorer: streamingScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  defaults: DEFAULT_METHOD_OPTIONS,
};
