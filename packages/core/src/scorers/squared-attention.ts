import { attentionProbabilities } from './attention-probabilities.js';
import type { HeadContext, Scorer } from './types.js';

/** What the KV-Compress scorer reads of its method's options. */
export interface SquaredAttentionScorerOptions {
  /** Query rows that score: the last `window` of those given (the prompt's observation window at prefill). */
  readonly window: number;
}

/**
 * KV-Compress's eviction metric (Rehg, 2024, arXiv 2410.00161): the squared attention probability
 * each entry received, summed over the query rows and over the `G` query heads of the KV head's group
 * (no repetition of K/V, no pooling): `sum_r sum_m p[r][m][t]^2`. The rows are the last `window` of
 * those given: the prompt's observation window at prefill; at decode time the eviction policy hands
 * only the rows recorded since the last accumulation (never more than `window` at once) and keeps the
 * running sum per entry.
 */
export const squaredAttentionScorer: Scorer<SquaredAttentionScorerOptions> = {
  name: 'squared-attention',
  score(head: HeadContext, options: SquaredAttentionScorerOptions): Float32Array {
    const length = head.positions.length;
    const selectable = length - head.protectedCount;
    const rows = Math.min(options.window, head.queryPositions.length);
    const probabilities = attentionProbabilities(head, rows);
    const out = new Float64Array(selectable);
    for (let r = 0; r < rows; r++) {
      for (let m = 0; m < head.groupSize; m++) {
        const row = (r * head.groupSize + m) * length;
        for (let t = 0; t < selectable; t++) out[t]! += probabilities[row + t]! ** 2;
      }
    }
    return Float32Array.from(out);
  },
};
