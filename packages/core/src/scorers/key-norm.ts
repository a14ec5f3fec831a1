import type { HeadContext, Scorer } from './types.js';

/**
 * Key-norm scores (Devoto et al., 2024, arXiv 2406.11430): keys with a small L2 norm tend to draw
 * high attention, so the score is the negated norm. Needs no queries.
 */
export const keyNormScorer: Scorer<unknown> = {
  name: 'key-norm',
  score(head: HeadContext): Float32Array {
    const d = head.headDim;
    const selectable = head.positions.length - head.protectedCount;
    return Float32Array.from({ length: selectable }, (_, t) => {
      let sum = 0;
      for (let i = 0; i < d; i++) sum += head.keys[t * d + i]! ** 2;
      return -Math.sqrt(sum);
    });
  },
};
