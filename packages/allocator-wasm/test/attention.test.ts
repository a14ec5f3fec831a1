import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockPool } from '../src/index.js';
import { randomFloats, referenceAttention } from './helpers.js';

describe('decode and prefill attention over the paged cache (WASM SIMD)', () => {
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

  it('causal (prefill) attention: row t over each head\'s first start + t + 1 rows, against the f64 twin and bit for bit as decode attention', async () => {
    const pool = await BlockPool.create({ headDim: 1 });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          kvHeads: fc.integer({ min: 1, max: 3 }),
          group: fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9),
          headDim: fc.constantFrom(2, 6, 16, 48, 64),
          blockSize: fc.integer({ min: 1, max: 20 }),
          start: fc.integer({ min: 0, max: 50 }),
          rows: fc.integer({ min: 1, max: 12 }),
          extra: fc.integer({ min: 0, max: 3 }),
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        }),
        async ({ kvHeads, group, headDim, blockSize, start, rows, extra, seed }) => {
          const paged = BlockPool.inAllocator(pool.allocator, { headDim, blockSize });
          const tokens = start + rows + extra; // rows past the last query's must not be read
          const floats = tokens * kvHeads * headDim;
          const keys = randomFloats(seed, floats).map((k) => k * 3);
          const values = randomFloats(seed + 1, floats);
          const sequence = paged.addSequence(1, kvHeads);
          paged.append(sequence, 0, keys, values, Int32Array.from({ length: tokens }, (_, t) => t));
          const queryHeads = kvHeads * group;
          const rowFloats = queryHeads * headDim;
          const queries = randomFloats(seed + 2, rows * rowFloats).map((q) => q * 2);
          const out = new Float32Array(rows * rowFloats);
          paged.attendCausal(sequence, 0, queries, out, rows, start);
          for (let t = 0; t < rows; t++) {
            // decode attention over a sequence holding exactly the rows this one sees
            const visible = start + t + 1;
            const prefix = paged.addSequence(1, kvHeads);
            paged.append(prefix, 0, keys.subarray(0, visible * kvHeads * headDim), values.subarray(0, visible * kvHeads * headDim), Int32Array.from({ length: visible }, (_, p) => p));
            const decoded = new Float32Array(rowFloats);
            paged.attend(prefix, 0, queries.subarray(t * rowFloats, (t + 1) * rowFloats), decoded);
            expect(Array.from(out.subarray(t * rowFloats, (t + 1) * rowFloats))).toEqual(Array.from(decoded));
            for (let q = 0; q < queryHeads; q++) {
              const head = Math.floor(q / group);
              const expected = referenceAttention(
                queries.subarray(t * rowFloats + q * headDim, t * rowFloats + (q + 1) * headDim),
                paged.keys(prefix, 0, head),
                paged.values(prefix, 0, head),
                headDim,
              );
              for (let i = 0; i < headDim; i++) expect(Math.abs(out[t * rowFloats + q * headDim + i]! - expected[i]!)).toBeLessThan(1e-5);
            }
            paged.removeSequence(prefix);
          }
          // a head shorter than start + rows is refused
          expect(() => paged.attendCausal(sequence, 0, queries, out, rows, start + extra + 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
          paged.dispose();
        },
      ),
      { numRuns: 40 },
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
