import { attentionProbabilities } from './attention-probabilities.js';
import { reduceGroup } from './group-reduce.js';
import { pool1d } from './pooling.js';
import type { HeadContext, Scorer, ScorerOptions } from './types.js';

/**
 * SnapKV observation-window scores (Li et al., 2024, arXiv 2404.14469): the last `window` queries
 * attend causally over all keys in f32; the selectable columns are averaged over those rows, reduced
 * over the GQA group (mean | max), then pooled along the sequence (kernel `k`, max | avg).
 */
export const snapkvScorer: Scorer = {
  name: 'snapkv',
  score(head: HeadContext, options: ScorerOptions): Float32Array {
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
