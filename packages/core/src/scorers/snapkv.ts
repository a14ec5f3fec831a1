import { attentionProbabilities } from './attention-probabilities.js';
import { reduceGroup } from './group-reduce.js';
import { pool1d } from './pooling.js';
import type { GroupReduce, HeadContext, Pooling, Scorer } from './types.js';

/** What the SnapKV scorer reads of its method's options. */
export interface SnapkvScorerOptions {
  /** Query rows that score: the last `window` observed queries. */
  readonly window: number;
  /** Pooling kernel along the sequence (1 or less: no pooling). */
  readonly kernelSize: number;
  /** Max or average pooling. */
  readonly pooling: Pooling;
  /** How a GQA group's query heads combine. */
  readonly groupReduce: GroupReduce;
}

/**
 * SnapKV observation-window scores (Li et al., 2024, arXiv 2404.14469): the last `window` queries
 * attend causally over all keys in f32; the selectable columns are averaged over those rows, reduced
 * over the GQA group (mean | max), then pooled along the sequence (kernel `k`, max | avg).
 */
export const snapkvScorer: Scorer<SnapkvScorerOptions> = {
  name: 'snapkv',
  score(head: HeadContext, options: SnapkvScorerOptions): Float32Array {
    const length = head.positions.length;
    const selectable = length - head.protectedCount;
    const rows = Math.min(options.window, head.queryPositions.length);
    const probabilities = attentionProbabilities(head, rows);
    const perQueryHead = new Float32Array(head.groupSize * selectable);
    for (let r = 0; r < rows; r++) {
      for (let m = 0; m < head.groupSize; m++) {
        const row = (r * head.groupSize + m) * length;
        for (let t = 0; t < selectable; t++) perQueryHead[m * selectable + t]! += probabilities[row + t]! / rows;
      }
    }
    const reduced = reduceGroup(perQueryHead, head.groupSize, selectable, options.groupReduce);
    return pool1d(reduced, options.kernelSize, options.pooling);
  },
};
