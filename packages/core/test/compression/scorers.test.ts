import { describe, expect, it } from 'vitest';
import { DEFAULT_METHOD_OPTIONS, type HeadContext, h2oScorer, keyNormScorer, snapkvScorer, streamingScorer } from '../../src/index.js';

const options = { ...DEFAULT_METHOD_OPTIONS, window: 1, kernelSize: 1 };

/** d = 1 and q = 1, so attention probabilities are proportional to exp(key): keys ln(1..4) give 0.1..0.4. */
function headWithWeights(weights: number[], protectedCount: number, queryRows = 1): HeadContext {
  const n = weights.length;
  return {
    keys: Float32Array.from(weights, Math.log),
    positions: Int32Array.from({ length: n }, (_, t) => t),
    queries: new Float32Array(queryRows).fill(1),
    queryPositions: Int32Array.from({ length: queryRows }, (_, r) => n - queryRows + r),
    headDim: 1,
    groupSize: 1,
    protectedCount,
  };
}

const close = (actual: Float32Array, expected: number[]) =>
  expected.forEach((value, i) => expect(actual[i]).toBeCloseTo(value, 6));

describe('SnapKV scorer, checked by hand', () => {
  const head = headWithWeights([1, 2, 3, 4], 1);

  it('scores the prefix by the window queries\' attention', () => {
    close(snapkvScorer.score(head, options), [0.1, 0.2, 0.3]);
  });

  it('max-pools and avg-pools with padding k // 2 (avg counts the padding)', () => {
    close(snapkvScorer.score(head, { ...options, kernelSize: 3 }), [0.2, 0.3, 0.3]);
    close(snapkvScorer.score(head, { ...options, kernelSize: 3, pooling: 'avg' }), [0.1, 0.2, 0.5 / 3]);
  });

  it('masks keys after a window query causally and averages over window rows', () => {
    // Two window rows at positions 2 and 3: row 2 sees keys 0..2 (1/6, 2/6, 3/6), row 3 sees all.
    const scores = snapkvScorer.score(headWithWeights([1, 2, 3, 4], 2, 2), { ...options, window: 2 });
    close(scores, [(1 / 6 + 0.1) / 2, (2 / 6 + 0.2) / 2]);
  });

  it('reduces a GQA group by mean or max before pooling', () => {
    const head: HeadContext = {
      keys: Float32Array.of(0, 1, 0, 0), // two keys of d = 2
      positions: Int32Array.of(0, 1),
      queries: Float32Array.of(0, 0, 0, Math.SQRT2 * Math.log(3)), // member 0 flat, member 1 prefers key 1
      queryPositions: Int32Array.of(1),
      headDim: 2,
      groupSize: 2,
      protectedCount: 1,
    };
    // Key 0 = (0, 1): member 0 gives 0.5; member 1 scores key 0 by ln 3, key 1 by 0 -> 0.75.
    close(snapkvScorer.score(head, options), [0.625]);
    close(snapkvScorer.score(head, { ...options, groupReduce: 'max' }), [0.75]);
  });
});

describe('other scorers', () => {
  it('H2O sums the attention each entry received over all observed queries', () => {
    // Rows at positions 2 and 3 (q = 1): row 2 sees 1/6, 2/6, 3/6; row 3 sees 0.1..0.4.
    close(h2oScorer.score(headWithWeights([1, 2, 3, 4], 1, 2), options), [1 / 6 + 0.1, 2 / 6 + 0.2, 3 / 6 + 0.3]);
  });

  it('StreamingLLM ranks sinks first, then recency', () => {
    const scores = streamingScorer.score(headWithWeights([1, 1, 1, 1, 1, 1], 1), { ...options, sinks: 2 });
    expect(Array.from(scores)).toEqual([3.4028234663852886e38, 3.4028234663852886e38, 2, 3, 4]);
  });

  it('key norm prefers small keys', () => {
    const head: HeadContext = { ...headWithWeights([1, 1, 1], 1), keys: Float32Array.of(3, -0.5, 9) };
    expect(Array.from(keyNormScorer.score(head, options))).toEqual([-3, -0.5]);
  });
});
