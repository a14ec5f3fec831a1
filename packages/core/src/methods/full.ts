import { DEFAULT_METHOD_OPTIONS } from './defaults.js';
import type { Method } from './types.js';

/** No compression: every entry is kept. The baseline every method is measured against. */
export const full: Method = {
  name: 'full',
  summary: 'Keep the whole cache (the baseline).',
  paper: 'Attention Is All You Need, arXiv 1706.03762',
  scorer: null,
  schedule: 'uniform',
  allocation: 'uniform',
  defaults: DEFAULT_METHOD_OPTIONS,
};
