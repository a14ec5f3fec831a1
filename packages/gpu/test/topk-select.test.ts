import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuError } from '../src/errors.js';
import { GpuPagedCache } from '../src/paged-cache.js';
import { selectTopK } from '../src/selection.js';
import { testGpu } from './helpers.js';

const { gpu, d } = await testGpu();

/** The CPU twin: sort by score (higher first, -0 equal to +0), then by index; keep `cap`, ascending. */
function twinTopK(scores: Float32Array, cap: number): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => (scores[a] === scores[b] ? a - b : scores[b]! - scores[a]! > 0 ? 1 : -1));
  return order.slice(0, Math.min(cap, scores.length)).sort((a, b) => a - b);
}

const scoreArbitrary = fc.oneof(
  fc.float({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, 1e-30, -1e-30, 3.4e38, -3.4e38, Infinity, -Infinity),
);

describe('selectTopK on WebGPU', () => {
  it('keeps exactly the entries the CPU twin keeps (ragged heads, ties, signed zeros, extremes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.array(scoreArbitrary, { maxLength: 700 }), fc.nat({ max: 800 })), { minLength: 1, maxLength: 5 }),
        async (heads) => {
          const scores = heads.map(([row]) => Float32Array.from(row));
          const caps = heads.map(([, cap]) => cap);
          const kept = await selectTopK(d, scores, caps);
          kept.forEach((indices, h) => expect(Array.from(indices)).toEqual(twinTopK(scores[h]!, caps[h]!)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('breaks a row of equal scores by the lower index, across chunk boundaries', async () => {
    const scores = [new Float32Array(1000).fill(0.5), Float32Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 2 : 1))];
    const [first, second] = await selectTopK(d, scores, [300, 250]);
    expect(Array.from(first!)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(Array.from(second!)).toEqual(twinTopK(scores[1]!, 250));
  });

  it('handles a zero cap, a single token, an empty head and a cap past the length', async () => {
    const kept = await selectTopK(d, [Float32Array.of(1, 2, 3), Float32Array.of(7), new Float32Array(0), Float32Array.of(5, 4)], [0, 1, 4, 9]);
    expect(kept.map((k) => Array.from(k))).toEqual([[], [0], [], [0, 1]]);
    expect(await selectTopK(d, [Float32Array.of(1)], [0])).toEqual([new Int32Array(0)]);
  });

  it('feeds compaction: the selected rows are what the paged cache keeps, in order', async () => {
    const [kvHeads, headDim, tokens] = [3, 4, 37];
    const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: kvHeads, kvHeads, headDim, blockSize: 8 });
    const keys = Float32Array.from({ length: tokens * kvHeads * headDim }, (_, i) => i);
    cache.append(0, keys, keys, Int32Array.from({ length: tokens }, (_, t) => 100 + t));
    const scores = Array.from({ length: kvHeads }, (_, h) => Float32Array.from({ length: tokens }, (_, t) => Math.sin(t * (h + 1))));
    const caps = [5, 0, 37];
    const kept = await selectTopK(d, scores, caps);
    cache.compact(0, kept);
    for (let h = 0; h < kvHeads; h++) {
      const expected = twinTopK(scores[h]!, caps[h]!);
      expect(Array.from(cache.positions(0, h))).toEqual(expected.map((t) => 100 + t));
      expect(Array.from(await cache.rows(0, h, 'keys'))).toEqual(expected.flatMap((t) => Array.from(keys.subarray((t * kvHeads + h) * headDim, (t * kvHeads + h + 1) * headDim))));
    }
    cache.destroy();
  });

  it('refuses bad input with typed errors', async () => {
    await expect(selectTopK(d, [Float32Array.of(1)], [1, 2])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(selectTopK(d, [Float32Array.of(1)], [-1])).rejects.toBeInstanceOf(GpuError);
    await expect(selectTopK(d, [Float32Array.of(1)], [1.5])).rejects.toThrow(/non-negative integer/);
    await expect(selectTopK(d, [Float32Array.of(Number.NaN)], [1])).rejects.toThrow(/NaN/);
  });
});
