import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CacheGeometry, planCompression } from '../../src/index.js';
import { alignCapsToBlocks } from '../../src/allocation/block-aligned.js';
import { randomObservations } from './random-observations.js';

const layerCase = fc
  .record({ heads: fc.integer({ min: 1, max: 6 }), blockSize: fc.integer({ min: 2, max: 8 }), seed: fc.integer() })
  .chain(({ heads, blockSize }) =>
    fc.record({
      blockSize: fc.constant(blockSize),
      rows: fc.array(
        fc.record({
          scores: fc.array(fc.float({ min: 0, max: 100, noNaN: true }), { minLength: 0, maxLength: 40 }),
          protectedCount: fc.integer({ min: 0, max: 12 }),
          share: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        { minLength: heads, maxLength: heads },
      ),
    }),
  );

describe('alignCapsToBlocks: whole blocks per head', () => {
  it('keeps whole blocks, never more rows than asked (beyond what protected tails force), tails always held', () => {
    fc.assert(
      fc.property(layerCase, ({ blockSize, rows }) => {
        const scores = rows.map((r) => Float32Array.from(r.scores));
        const caps = rows.map((r) => Math.floor(r.share * r.scores.length));
        const protectedCounts = rows.map((r) => r.protectedCount);
        const aligned = alignCapsToBlocks(scores, caps, protectedCounts, blockSize);
        const asked = caps.reduce((sum, c, h) => sum + c + protectedCounts[h]!, 0);
        const forced = protectedCounts.reduce((sum, p) => sum + Math.ceil(p / blockSize) * blockSize, 0);
        let held = 0;
        aligned.forEach((cap, h) => {
          expect(cap).toBeGreaterThanOrEqual(0);
          expect(cap).toBeLessThanOrEqual(scores[h]!.length);
          const rowsHeld = cap + protectedCounts[h]!;
          // a head ends on a block boundary unless it holds everything it has
          if (cap < scores[h]!.length) expect(rowsHeld % blockSize).toBe(0);
          held += rowsHeld;
        });
        expect(held).toBeLessThanOrEqual(Math.max(asked, forced));
        // the blocks asked for are all used unless every head is full
        const full = aligned.every((cap, h) => cap === scores[h]!.length);
        if (!full && forced <= asked) expect(held).toBeGreaterThan(Math.floor(asked / blockSize) * blockSize - blockSize * rows.length);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the leftover blocks to the heads whose next entries score highest', () => {
    // two heads of 8 selectable entries, blocks of 4, no window; caps 3 and 3 (6 rows): one block of 4 fits
    const low = Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0]);
    const high = Float32Array.from([5, 5, 5, 5, 0, 0, 0, 0]);
    expect(Array.from(alignCapsToBlocks([low, high], [3, 3], [0, 0], 4))).toEqual([0, 4]);
    expect(Array.from(alignCapsToBlocks([high, low], [3, 3], [0, 0], 4))).toEqual([4, 0]);
    expect(Array.from(alignCapsToBlocks([high, low], [3, 3], [0, 0], 1))).toEqual([3, 3]);
  });

  it('planCompression with blockSize keeps whole blocks per head, the window, and no more entries than the budget', () => {
    const geometry: CacheGeometry = { layers: 3, queryHeads: 8, kvHeads: 4, headDim: 16 };
    const observations = randomObservations(geometry, 120, 5);
    for (const method of ['ada-snapkv', 'snapkv', 'ada-pyramidkv'] as const) {
      const exact = planCompression({ method, geometry, observations, budget: 40, options: { window: 8 } });
      const aligned = planCompression({ method, geometry, observations, budget: 40, options: { window: 8 }, blockSize: 16 });
      // a pyramid's top layers ask for less than a block per head beyond the window: the window's block is forced
      if (method !== 'ada-pyramidkv') expect(aligned.achievedTotal, method).toBeLessThanOrEqual(exact.requestedTotal);
      expect(aligned.achievedTotal, method).toBeGreaterThan(exact.achievedTotal - 16 * geometry.layers);
      for (const layer of aligned.layers) {
        for (const kept of layer.kept) {
          expect(kept.length % 16, method).toBe(0);
          for (let t = 112; t < 120; t++) expect(Array.from(kept)).toContain(t);
        }
      }
    }
    expect(() => planCompression({ method: 'snapkv', geometry, observations, budget: 40, blockSize: 0 })).toThrow(/blockSize must be a whole number >= 1/);
  });
});
