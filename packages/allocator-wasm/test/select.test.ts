import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AllocatorError, Allocator, selectAdaptive } from '../src/index.js';

/** Full-sort twin of the WASM selection: higher score, then lower head, then lower token. */
function referenceSelect(scores: Float32Array, heads: number, selectable: number, alpha: number) {
  const length = scores.length / heads;
  if (selectable >= length) {
    return Array.from({ length: heads }, () => Array.from({ length }, (_, t) => t));
  }
  const better = (a: number, b: number) => (scores[a] !== scores[b] ? scores[b]! - scores[a]! : a - b);
  const flat = Array.from(scores.keys()).sort(better).slice(0, heads * selectable);
  const counts = new Array<number>(heads).fill(0);
  for (const index of flat) counts[Math.floor(index / length)]!++;
  return counts.map((count, h) => {
    const raw = count * (1 - alpha) + Math.floor(selectable * alpha);
    const floor = Math.floor(raw);
    const cap = raw - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(raw);
    return Array.from({ length }, (_, t) => h * length + t)
      .sort(better)
      .slice(0, Math.min(cap, length))
      .map((index) => index - h * length)
      .sort((a, b) => a - b);
  });
}

describe('adaptive selection in WASM', async () => {
  const allocator = await Allocator.load();

  it('matches the full-sort twin, ties included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 45 }),
        fc.constantFrom(0, 0.2, 0.25, 0.5, 1),
        fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 240, maxLength: 240 }),
        (heads, length, selectable, alpha, pattern) => {
          const scores = Float32Array.from({ length: heads * length }, (_, i) => pattern[i % 240]! / 8);
          const result = selectAdaptive(allocator, scores, heads, selectable, alpha);
          const expected = referenceSelect(scores, heads, selectable, alpha);
          expect(result.kept.map((list) => Array.from(list))).toEqual(expected);
          expect(Array.from(result.caps)).toEqual(expected.map((list) => list.length));
          expect(result.total).toBe(expected.flat().length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('matches the twin on long rows of distinct and extreme scores (every radix pass decides)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (heads, length, seed) => {
        let state = seed;
        const scores = Float32Array.from({ length: heads * length }, () => {
          state = (state * 1103515245 + 12345) % 2 ** 31;
          const pick = state % 10;
          return pick === 0 ? -0 : pick === 1 ? 3.4e38 : pick === 2 ? -1e-30 : ((state / 2 ** 31) - 0.5) * 10 ** (state % 7);
        });
        const selectable = Math.floor(length / 3);
        const result = selectAdaptive(allocator, scores, heads, selectable, 0.2);
        expect(result.kept.map((list) => Array.from(list))).toEqual(referenceSelect(scores, heads, selectable, 0.2));
      }),
      { numRuns: 30 },
    );
  });

  it('treats -0 and +0 as equal scores (the lower index wins)', () => {
    expect(Array.from(selectAdaptive(allocator, Float32Array.of(0, -0, 0, -1), 1, 1, 1).kept[0]!)).toEqual([0]);
    expect(Array.from(selectAdaptive(allocator, Float32Array.of(-0, 0, -1, -2), 1, 1, 1).kept[0]!)).toEqual([0]);
  });

  it('alpha = 1 is uniform and alpha = 0 keeps exactly the flattened top-k', () => {
    const scores = Float32Array.of(9, 8, 7, 6, /* head 1 */ 0.1, 0.2, 0.3, 0.4);
    expect(Array.from(selectAdaptive(allocator, scores, 2, 2, 1).caps)).toEqual([2, 2]);
    const pure = selectAdaptive(allocator, scores, 2, 2, 0);
    expect(Array.from(pure.caps)).toEqual([4, 0]);
    expect(Array.from(pure.kept[0]!)).toEqual([0, 1, 2, 3]);
  });

  it('rejects bad input with typed errors', () => {
    const code = (action: () => unknown) => {
      try {
        action();
      } catch (error) {
        return (error as AllocatorError).code;
      }
      return 'none';
    };
    expect(code(() => selectAdaptive(allocator, Float32Array.of(1, Number.NaN), 1, 1, 0.2))).toBe('INVALID_NUMBER');
    expect(code(() => selectAdaptive(allocator, Float32Array.of(1, 2, 3), 2, 1, 0.2))).toBe('INVALID_ARGUMENT');
    expect(code(() => selectAdaptive(allocator, Float32Array.of(1, 2), 1, 1, 1.5))).toBe('INVALID_ARGUMENT');
    expect(code(() => selectAdaptive(allocator, Float32Array.of(1, 2), 1, -1, 0.2))).toBe('INVALID_ARGUMENT');
  });
});
