import { attentionProbabilities } from './attention-probabilities.js';
import { reduceGroup } from './group-reduce.js';
import type { GroupReduce, HeadContext, Scorer } from './types.js';

/** What the H2O scorer reads of its method's options (the recent window is the planner's). */
export interface H2oScorerOptions {
  /** How a GQA group's query heads combine. */
  readonly groupReduce: GroupReduce;
}

/**
 * H2O heavy hitters (Zhang et al., 2023, arXiv 2306.14048): the attention each entry has received,
 * summed over every observed query (all prompt queries at prefill), reduced over the GQA group. The
 * recent window is protected by the caller.
 */
export const h2oScorer: Scorer<H2oScorerOptions> = {
  name: 'h2o',
  score(head: HeadContext, options: H2oScorerOptions): Float32Array {
    const length = head.positions.length;
    const selectable = length - head.protectedCount;
    const rows = head.queryPositions.length;
    const probabilities = attentionProbabilities(head, rows);
    const perQueryHead = new Float32Array(head.groupSize * selectable);
    for (let r = 0; r < rows; r++) {
      for (let m = 0; m < head.groupSize; m++) {
        const row = (r * head.groupSize + m) * length;
        for (let t = 0; t < selectable; t++) perQueryHead[m * selectable + t]! += probabilities[row + t]!;
      }
    }
    return reduceGroup(perQueryHead, head.groupSize, selectable, options.groupReduce);
  },
};
