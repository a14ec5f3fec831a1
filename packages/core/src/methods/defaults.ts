import type { MethodOptions } from './types.js';

/**
 * The reference defaults (w = 32, k = 7, max-pool, mean over GQA groups, alpha = 0.2, beta = 20,
 * 4 sinks). w = 32 is meant for prompts of thousands of tokens; short prompts want a smaller window.
 */
export const DEFAULT_METHOD_OPTIONS: MethodOptions = Object.freeze({
  window: 32,
  kernelSize: 7,
  pooling: 'max',
  groupReduce: 'mean',
  alpha: 0.2,
  beta: 20,
  sinks: 4,
});
