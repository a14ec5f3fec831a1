import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockPool } from '../src/index.js';
import { randomFloats, referenceAttention } from './helpers.js';

describe('decode attention over the paged cache (WASM SIMD)', () => {
  it('matches a plain double-precision softmax for any shape, GQA group and compaction', async () => {
    const pool = await BlockPool.create({ headDim: 1 });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          kvHeads: fc.integer({ min: 1, max: 3 }),
          group: fc.integer({ min: 1, max: 9 }),
          headDim: fc.constantFrom(1, 3, 4, 6, 12, 16, 20, 48, 64),
          blockSize: fc.integer({ min: 1, max: 20 }),
          tokens: fc.integer({ min: 0, max: 90 }),
          keepEvery: fc.integer({ min: 1, max: 4 }),
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        }),
        async ({ kvHeads, group, headDim, blockSize, tokens, keepEvery, seed }) => {
          const paged = BlockPool.inAllocator(pool.allocator, { headDim, blockSize });
          const sequence = paged.addSequence(1, kvHeads);
          const floats = tokens * kvHeads * headDim;
          const keys = randomFloats(seed, floats).map((k) => k * 3);
          const values = randomFloats(seed + 1, floats);
          paged.append(sequence, 0, keys, values, Int32Array.from({ length: tokens }, (_, t) => t));
          const kept = Array.from({ length: kvHeads }, (_, h) =>
            Int32Array.from({ length: tokens }, (_, t) => t).filter((t) => (t + h) % keepEvery === 0),
          );
          paged.compact(sequence, 0, kept);
          const queryHeads = kvHeads * group;
          const queries = randomFloats(seed + 2, queryHeads * headDim).map((q) => q * 2);
          const out = new Float32Array(queryHeads * headDim);
          paged.attend(sequence, 0, queries, out);
          for (let q = 0; q < queryHeads; q++) {
            const head = Math.floor(q / group);
            const expected = referenceAttention(
              queries.subarray(q * headDim, (q + 1) * headDim),
              paged.keys(sequence, 0, head),
              paged.values(sequence, 0, head),
              headDim,
            );
            for (let i = 0; i < headDim; i++) expect(Math.abs(out[q * headDim + i]! - expected[i]!)).toBeLessThan(1e-5);
          }
          paged.dispose();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('is numerically stable for large logits', async () => {
    const pool = await BlockPool.create({ headDim: 2, blockSize: 1 });
    const sequence = pool.addSequence(1, 1);
    pool.append(sequence, 0, Float32Array.of(1000, 0, 0, 1000), Float32Array.of(1, 0, 0, 1), Int32Array.of(0, 1));
    const out = new Float32Array(4);
    pool.attend(sequence, 0, Float32Array.of(1, 0, 0, 1), out);
    expect(Array.from(out)).toEqual([1, 0, 0, 1]);
  });
});
