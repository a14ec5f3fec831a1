import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { halfToFloat } from '../src/half.js';
import { GpuPagedCache } from '../src/paged-cache.js';
import { random, testGpu } from './helpers.js';

const { gpu } = await testGpu();


/** f64 attention of one query over rows `[n][headDim]` (the twin). */
function twinAttend(query: ArrayLike<number>, keys: number[][], values: number[][]): number[] {
  const headDim = query.length;
  const logits = keys.map((k) => k.reduce((s, v, i) => s + v * query[i]!, 0) / Math.sqrt(headDim));
  const max = Math.max(...logits);
  const weights = logits.map((l) => Math.exp(l - max));
  const sum = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length: headDim }, (_, i) => values.reduce((s, v, r) => s + (weights[r]! / sum) * v[i]!, 0));
}

/** Binary16 keeps 11 significant bits: a stored value is within 2^-10 relative (or the subnormal step). */
const halfClose = (stored: number, exact: number) => Math.abs(stored - exact) <= 2 ** -10 * Math.abs(exact) + 2 ** -24;

describe('GpuPagedCache with f16 K/V storage', () => {
  it('decodes binary16 bits exactly', () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555].map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, -0, Infinity, 0.333251953125]);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it('stores rows at half precision, compacts them bit for bit and attends like the f32 twin (GQA, odd lengths)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 200 }), fc.integer(), async (kvHeads, group, tokens, seed) => {
        const headDim = 8;
        const rnd = random(seed);
        const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: kvHeads * group, kvHeads, headDim, blockSize: 4, kvFormat: 'f16' });
        const keys = Float32Array.from({ length: tokens * kvHeads * headDim }, () => rnd() * 3);
        const values = Float32Array.from({ length: keys.length }, () => rnd());
        cache.append(0, keys, values, Int32Array.from({ length: tokens }, (_, t) => t));
        const rowsOf = (data: Float32Array, h: number) => Array.from({ length: tokens }, (_, t) => Array.from(data.subarray((t * kvHeads + h) * headDim, (t * kvHeads + h + 1) * headDim)));
        const before = await cache.rows(0, 0, 'keys');
        rowsOf(keys, 0).flat().forEach((exact, i) => expect(halfClose(before[i]!, exact)).toBe(true));

        const kept = Array.from({ length: kvHeads }, (_, h) => Int32Array.from({ length: tokens }, (_, t) => t).filter((t) => (t + h + seed) % 3 !== 1));
        cache.compact(0, kept);
        const after = await cache.rows(0, 0, 'keys');
        expect(Array.from(after)).toEqual([...kept[0]!].flatMap((t) => Array.from(before.subarray(t * headDim, (t + 1) * headDim))));

        const queries = Float32Array.from({ length: kvHeads * group * headDim }, () => rnd() * 2);
        const actual = await cache.attend(0, queries);
        for (let q = 0; q < kvHeads * group; q++) {
          const h = Math.floor(q / group);
          const pick = (rows: number[][]) => [...kept[h]!].map((t) => rows[t]!);
          const expected = kept[h]!.length === 0 ? new Array(headDim).fill(0) : twinAttend(queries.subarray(q * headDim, (q + 1) * headDim), pick(rowsOf(keys, h)), pick(rowsOf(values, h)));
          // inputs rounded to 11 bits: outputs stay within a few 1e-3 of the values' scale (1)
          expected.forEach((v, i) => expect(Math.abs(actual[q * headDim + i]! - v)).toBeLessThanOrEqual(5e-3));
        }
        cache.destroy();
      }),
      { numRuns: 12 },
    );
  });

  it('holds half the bytes of the f32 cache, and refuses an odd head dimension or an unknown format', () => {
    const shape = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 16 };
    const half = new GpuPagedCache(gpu, { ...shape, kvFormat: 'f16' });
    const full = new GpuPagedCache(gpu, shape);
    const rows = new Float32Array(5 * 2 * 16).fill(0.5);
    for (const cache of [half, full]) cache.append(1, rows, rows, Int32Array.from({ length: 5 }, (_, t) => t));
    expect(half.bytes() * 2).toBe(full.bytes());
    expect(half.bytes()).toBe(2 * 16 * 16 * 2 * 2); // 2 heads x 1 block of 16 rows x 16 dims x 2 bytes x (K + V)
    half.destroy();
    full.destroy();
    expect(() => new GpuPagedCache(gpu, { ...shape, headDim: 7, kvFormat: 'f16' })).toThrow(/even/);
    expect(() => new GpuPagedCache(gpu, { ...shape, kvFormat: 'bf16' as 'f16' })).toThrow(/kvFormat/);
  });

  it('`auto` picks f16 storage exactly where the adapter offers shader-f16', () => {
    for (const f16 of [false, true]) {
      const cache = new GpuPagedCache({ ...gpu, f16 }, { layers: 1, queryHeads: 4, kvHeads: 2, headDim: 16, kvFormat: 'auto' });
      expect(cache.kvFormat).toBe(f16 ? 'f16' : 'f32');
      cache.destroy();
    }
  });
});
