import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryScores, type JointHead, OptionError, jointEviction } from '../../src/index.js';

// KV-Compress's joint eviction as properties over random sequences: what it may never touch, what it
// frees, how far it goes, and which entries it picks.

const blocks = (entries: number, blockSize: number) => Math.ceil(entries / blockSize);

/** Heads with few distinct metrics (ties happen) and a protected tail of random length. */
const headsArbitrary = fc
  .array(
    fc.record({ length: fc.integer({ min: 0, max: 40 }), protectedCount: fc.integer({ min: 0, max: 8 }), seed: fc.integer() }),
    { minLength: 1, maxLength: 6 },
  )
  .map((specs) =>
    specs.map(({ length, protectedCount, seed }): JointHead => {
      const evictable = Math.max(0, length - protectedCount);
      return { length, scores: Array.from({ length: evictable }, (_, i) => Math.abs((seed * 31 + i * 17) % 7)) };
    }),
  );

const limitsArbitrary = fc.record({
  target: fc.integer({ min: 0, max: 200 }),
  blockSize: fc.integer({ min: 1, max: 8 }),
  maxEvict: fc.integer({ min: 0, max: 60 }),
});

describe('jointEviction', () => {
  it('never evicts a protected entry, frees exactly the blocks it reports, leaves heads on block boundaries, respects the limit', () => {
    fc.assert(
      fc.property(headsArbitrary, limitsArbitrary, (heads, limits) => {
        const result = jointEviction(heads, limits);
        const total = heads.reduce((s, h) => s + h.length, 0);
        let freed = 0;
        heads.forEach((head, i) => {
          const gone = result.evicted[i]!;
          // ascending, distinct, all before the protected tail
          gone.forEach((index, k) => {
            expect(index).toBeLessThan(head.scores.length);
            if (k > 0) expect(index).toBeGreaterThan(gone[k - 1]!);
          });
          const after = head.length - gone.length;
          if (gone.length > 0) expect(after % limits.blockSize).toBe(0);
          freed += blocks(head.length, limits.blockSize) - blocks(after, limits.blockSize);
        });
        expect(result.evictedEntries).toBe(result.evicted.reduce((s, e) => s + e.length, 0));
        expect(result.freedBlocks).toBe(freed);
        if (limits.maxEvict > 0) expect(result.evictedEntries).toBeLessThanOrEqual(limits.maxEvict);
        // it stops once the target is met: one share fewer would leave the sequence over it
        if (result.evictedEntries > 0) expect(total - result.evictedEntries).toBeGreaterThan(limits.target - limits.blockSize);
        if (total <= limits.target) expect(result.evictedEntries).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('meets the target whenever nothing else stops it (no limit, enough evictable entries)', () => {
    fc.assert(
      fc.property(headsArbitrary, fc.integer({ min: 0, max: 200 }), (heads, target) => {
        const total = heads.reduce((s, h) => s + h.length, 0);
        const evictable = heads.reduce((s, h) => s + h.scores.length, 0);
        fc.pre(total - evictable <= target);
        const result = jointEviction(heads, { target, blockSize: 1 });
        expect(total - result.evictedEntries).toBe(Math.min(total, target));
      }),
    );
  });

  it('with blockSize 1 evicts the globally lowest metrics: lower metric, then the earlier head, then the older entry', () => {
    fc.assert(
      fc.property(headsArbitrary, fc.integer({ min: 0, max: 200 }), (heads, target) => {
        const result = jointEviction(heads, { target, blockSize: 1 });
        const all = heads.flatMap((h, head) => Array.from(h.scores, (metric, index) => ({ metric, head, index })));
        all.sort((a, b) => a.metric - b.metric || a.head - b.head || a.index - b.index);
        const expected = heads.map(() => [] as number[]);
        for (const entry of all.slice(0, result.evictedEntries)) expected[entry.head]!.push(entry.index);
        expect(result.evicted.map((e) => Array.from(e))).toEqual(expected.map((e) => e.sort((a, b) => a - b)));
      }),
    );
  });

  it('takes a head\'s last, partial block first, then whole blocks', () => {
    // 10 entries in blocks of 4: the partial last block (2 entries) goes first, then 4 at a time
    const head: JointHead = { length: 10, scores: [0, 1, 2, 3, 4, 5, 6, 7] };
    expect(jointEviction([head], { target: 9, blockSize: 4 })).toMatchObject({ evictedEntries: 2, freedBlocks: 1 });
    expect(jointEviction([head], { target: 7, blockSize: 4 })).toMatchObject({ evictedEntries: 6, freedBlocks: 2 });
    expect(Array.from(jointEviction([head], { target: 7, blockSize: 4 }).evicted[0]!)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses a block size that is not a whole number >= 1', () => {
    expect(() => jointEviction([{ length: 2, scores: [0, 1] }], { target: 0, blockSize: 0 })).toThrow(OptionError);
    expect(() => jointEviction([{ length: 2, scores: [0, 1] }], { target: 0, blockSize: 1.5 })).toThrow(OptionError);
  });
});

describe('EntryScores', () => {
  it('keeps each entry\'s sum through compaction, forgets evicted entries, starts new ones at 0', () => {
    const sums = new EntryScores({ layers: 1, queryHeads: 2, kvHeads: 1, headDim: 4 });
    sums.add(0, 0, Int32Array.of(0, 1, 2, 3), [1, 2, 3, 4]);
    sums.add(0, 0, Int32Array.of(0, 1, 2, 3), [1, 1, 1, 1]);
    // positions 1 and 2 evicted, 4 and 5 appended
    expect(Array.from(sums.sync(0, 0, Int32Array.of(0, 3, 4, 5)))).toEqual([2, 5, 0, 0]);
    sums.clear();
    expect(Array.from(sums.sync(0, 0, Int32Array.of(0, 3)))).toEqual([0, 0]);
  });
});
