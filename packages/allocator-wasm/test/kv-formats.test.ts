import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Allocator, BlockPool, type KvFormat, kvBlockBytes } from '../src/index.js';
import { randomFloats } from './helpers.js';
import { attentionBound, attentionF64, elementBounds } from './kv-format-reference.js';

const QUANTIZED: KvFormat[] = ['f16', 'int8', 'int4'];
// f32 roundoff of the SIMD kernel (exp approximation, f32 sums) against the f64 twin, per unit of |v|.
const KERNEL_SLACK = 2e-5;

/** Head h's rows `[tokens][d]` out of `[tokens][kvHeads][d]`. */
function headRows(rows: Float32Array, tokens: number, kvHeads: number, h: number, d: number): Float32Array {
  const out = new Float32Array(tokens * d);
  for (let t = 0; t < tokens; t++) out.set(rows.subarray((t * kvHeads + h) * d, (t * kvHeads + h + 1) * d), t * d);
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Appends `tokens` rows in chunks (so residual rows cross calls); returns the keys and values. */
function fill(pool: BlockPool, sequence: number, kvHeads: number, tokens: number, chunks: number, keys: Float32Array, values: Float32Array): void {
  const d = pool.headDim;
  const cut = Math.ceil(tokens / chunks);
  for (let first = 0; first < tokens; first += cut) {
    const last = Math.min(tokens, first + cut);
    const range = [first * kvHeads * d, last * kvHeads * d] as const;
    pool.append(sequence, 0, keys.subarray(...range), values.subarray(...range), Int32Array.from({ length: last - first }, (_, t) => first + t));
  }
}

describe.each(QUANTIZED)('%s K/V blocks', (format) => {
  it('reads back within the format\'s bound, attends as the f64 twin over what it stores and within the propagated bound of the exact rows', async () => {
    const allocator = await Allocator.load();
    await fc.assert(
      fc.property(
        fc.record({
          kvHeads: fc.integer({ min: 1, max: 2 }),
          group: fc.constantFrom(1, 2, 3, 4, 5, 8),
          headDim: format === 'int4' ? fc.constantFrom(2, 6, 8, 16, 48, 64) : fc.constantFrom(1, 3, 4, 8, 16, 48, 64),
          blockSize: fc.integer({ min: 1, max: 20 }),
          tokens: fc.integer({ min: 0, max: 70 }),
          chunks: fc.integer({ min: 1, max: 3 }),
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        }),
        ({ kvHeads, group, headDim: d, blockSize, tokens, chunks, seed }) => {
          const pool = BlockPool.inAllocator(allocator, { headDim: d, blockSize, format });
          const sequence = pool.addSequence(1, kvHeads);
          const keys = randomFloats(seed, tokens * kvHeads * d).map((k) => k * 3);
          const values = randomFloats(seed + 1, tokens * kvHeads * d);
          fill(pool, sequence, kvHeads, tokens, chunks, keys, values);
          pool.check();
          const queries = randomFloats(seed + 2, kvHeads * group * d).map((q) => q * 2);
          const out = new Float32Array(queries.length);
          pool.attend(sequence, 0, queries, out);
          for (let h = 0; h < kvHeads; h++) {
            const exactK = headRows(keys, tokens, kvHeads, h, d);
            const exactV = headRows(values, tokens, kvHeads, h, d);
            const storedK = pool.keys(sequence, 0, h);
            const storedV = pool.values(sequence, 0, h);
            const eK = elementBounds(format, 'keys', exactK, d, blockSize);
            const eV = elementBounds(format, 'values', exactV, d, blockSize);
            storedK.forEach((k, i) => expect(Math.abs(k - exactK[i]!)).toBeLessThanOrEqual(eK[i]!));
            storedV.forEach((v, i) => expect(Math.abs(v - exactV[i]!)).toBeLessThanOrEqual(eV[i]!));
            for (let g = 0; g < group; g++) {
              const q = queries.subarray((h * group + g) * d, (h * group + g + 1) * d);
              const got = out.subarray((h * group + g) * d, (h * group + g + 1) * d);
              const overStored = attentionF64(q, storedK, storedV, d).out;
              const overExact = attentionF64(q, exactK, exactV, d).out;
              const bound = attentionBound(q, exactV, eK, eV, d);
              const slack = KERNEL_SLACK * Math.max(1, maxAbs(exactV));
              for (let i = 0; i < d; i++) {
                expect(Math.abs(got[i]! - overStored[i]!)).toBeLessThanOrEqual(slack);
                expect(Math.abs(got[i]! - overExact[i]!)).toBeLessThanOrEqual(bound[i]! + slack);
              }
            }
          }
          pool.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('compacts (re-encoding what moved, within half an old plus half a new scale), appends after it and attends as the f64 twin over what it stores', async () => {
    const allocator = await Allocator.load();
    await fc.assert(
      fc.property(
        fc.record({
          kvHeads: fc.integer({ min: 1, max: 3 }),
          group: fc.constantFrom(1, 4, 6),
          headDim: fc.constantFrom(4, 8, 48),
          blockSize: fc.integer({ min: 1, max: 12 }),
          tokens: fc.integer({ min: 0, max: 60 }),
          keepEvery: fc.integer({ min: 1, max: 4 }),
          more: fc.integer({ min: 0, max: 20 }),
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        }),
        ({ kvHeads, group, headDim: d, blockSize, tokens, keepEvery, more, seed }) => {
          const pool = BlockPool.inAllocator(allocator, { headDim: d, blockSize, format });
          const sequence = pool.addSequence(1, kvHeads);
          const keys = randomFloats(seed, tokens * kvHeads * d).map((k) => k * 3);
          const values = randomFloats(seed + 1, tokens * kvHeads * d);
          fill(pool, sequence, kvHeads, tokens, 2, keys, values);
          const kept = Array.from({ length: kvHeads }, (_, h) => Int32Array.from({ length: tokens }, (_, t) => t).filter((t) => (t + h) % keepEvery === 0));
          pool.compact(sequence, 0, kept);
          pool.check();
          // A partly filled block compaction wrote is encoded; a head whose rows did not move keeps its residual.
          const residualHeads = kept.filter((list) => {
            const moved = list.some((source, row) => source !== row);
            const sameLastBlock = Math.ceil(list.length / blockSize) === Math.ceil(tokens / blockSize);
            return format !== 'f16' && !moved && tokens % blockSize !== 0 && sameLastBlock && list.length % blockSize !== 0;
          }).length;
          expect(pool.stats().residualBytes).toBe(residualHeads * 2 * blockSize * d * 4);
          for (let h = 0; h < kvHeads; h++) {
            expect(Array.from(pool.positions(sequence, 0, h))).toEqual(Array.from(kept[h]!));
            const list = kept[h]!;
            const exactK = headRows(keys, tokens, kvHeads, h, d);
            const exactV = headRows(values, tokens, kvHeads, h, d);
            const before = { k: elementBounds(format, 'keys', exactK, d, blockSize), v: elementBounds(format, 'values', exactV, d, blockSize) };
            const storedK = pool.keys(sequence, 0, h);
            const storedV = pool.values(sequence, 0, h);
            const after = { k: elementBounds(format, 'keys', storedK, d, blockSize), v: elementBounds(format, 'values', storedV, d, blockSize) };
            list.forEach((source, row) => {
              for (let i = 0; i < d; i++) {
                const from = source * d + i;
                const to = row * d + i;
                expect(Math.abs(storedK[to]! - exactK[from]!)).toBeLessThanOrEqual(before.k[from]! + after.k[to]!);
                expect(Math.abs(storedV[to]! - exactV[from]!)).toBeLessThanOrEqual(before.v[from]! + after.v[to]!);
              }
            });
          }
          // appends continue a partly filled encoded block (decoded into a residual first)
          const extraK = randomFloats(seed + 3, more * kvHeads * d);
          const extraV = randomFloats(seed + 4, more * kvHeads * d);
          pool.append(sequence, 0, extraK, extraV, Int32Array.from({ length: more }, (_, t) => tokens + t));
          pool.check();
          const queries = randomFloats(seed + 2, kvHeads * group * d);
          const out = new Float32Array(queries.length);
          pool.attend(sequence, 0, queries, out);
          for (let h = 0; h < kvHeads; h++) {
            const storedK = pool.keys(sequence, 0, h);
            const storedV = pool.values(sequence, 0, h);
            expect(storedK.length).toBe((kept[h]!.length + more) * d);
            for (let g = 0; g < group; g++) {
              const q = queries.subarray((h * group + g) * d, (h * group + g + 1) * d);
              const expected = attentionF64(q, storedK, storedV, d).out;
              for (let i = 0; i < d; i++) expect(Math.abs(out[(h * group + g) * d + i]! - expected[i]!)).toBeLessThanOrEqual(KERNEL_SLACK * 3);
            }
          }
          pool.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('causal attention reads the encoded blocks and the residual as decode attention does, bit for bit', async () => {
    const d = 16;
    const kvHeads = 2;
    const pool = await BlockPool.create({ headDim: d, blockSize: 5, format });
    const sequence = pool.addSequence(1, kvHeads);
    const tokens = 23;
    const keys = randomFloats(11, tokens * kvHeads * d);
    const values = randomFloats(12, tokens * kvHeads * d);
    fill(pool, sequence, kvHeads, tokens, 1, keys, values);
    const rows = 6;
    const start = tokens - rows;
    const rowFloats = kvHeads * 4 * d;
    const queries = randomFloats(13, rows * rowFloats);
    const out = new Float32Array(queries.length);
    pool.attendCausal(sequence, 0, queries, out, rows, start);
    for (let t = 0; t < rows; t++) {
      const visible = start + t + 1;
      const expected = new Float32Array(rowFloats);
      for (let h = 0; h < kvHeads; h++) {
        for (let g = 0; g < 4; g++) {
          const q = queries.subarray(t * rowFloats + (h * 4 + g) * d, t * rowFloats + (h * 4 + g + 1) * d);
          const ref = attentionF64(q, pool.keys(sequence, 0, h).subarray(0, visible * d), pool.values(sequence, 0, h).subarray(0, visible * d), d).out;
          for (let i = 0; i < d; i++) expect(Math.abs(out[t * rowFloats + (h * 4 + g) * d + i]! - ref[i]!)).toBeLessThanOrEqual(KERNEL_SLACK);
        }
      }
    }
    // the last row sees every row: decode attention gives the same bits
    const last = new Float32Array(rowFloats);
    pool.attend(sequence, 0, queries.subarray((rows - 1) * rowFloats), last);
    expect(Array.from(last)).toEqual(Array.from(out.subarray((rows - 1) * rowFloats)));
    pool.dispose();
  });

  it('holds the bytes its format plans: block bytes, residual rows only while a block fills', async () => {
    const d = 64;
    const blockSize = 8;
    const pool = await BlockPool.create({ headDim: d, blockSize, format });
    expect(pool.format).toBe(format);
    const sequence = pool.addSequence(1, 1);
    const rows = randomFloats(3, 12 * d);
    pool.append(sequence, 0, rows, rows, Int32Array.from({ length: 12 }, (_, t) => t));
    const stats = pool.stats();
    expect(stats.format).toBe(format);
    expect(stats.blockBytes).toBe(kvBlockBytes(format, blockSize, d));
    const residual = format === 'f16' ? 0 : 2 * blockSize * d * 4; // the second block holds 4 rows
    expect(stats.residualBytes).toBe(residual);
    expect(stats.heldBytes).toBe(2 * stats.blockBytes + residual);
    pool.append(sequence, 0, rows.subarray(0, 4 * d), rows.subarray(0, 4 * d), Int32Array.from({ length: 4 }, (_, t) => 12 + t));
    expect(pool.stats().residualBytes).toBe(0); // the block filled and was encoded
    expect(pool.stats().heldBytes).toBe(2 * stats.blockBytes);
    pool.dispose();
  });
});

describe('K/V formats: options and real-model-like keys', () => {
  it('refuses an unknown format and int4 with an odd head dim', async () => {
    const allocator = await Allocator.load();
    expect(() => BlockPool.inAllocator(allocator, { headDim: 8, format: 'q8' as KvFormat })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => BlockPool.inAllocator(allocator, { headDim: 7, format: 'int4' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(allocator.exports.adakv_pool_create_format(8, 4, 0, 8, 9)).toBeLessThan(0);
    expect(allocator.exports.adakv_pool_create_format(7, 4, 0, 8, 3)).toBeLessThan(0);
  });

  it('f16 stores only finite values (beyond +-65504 saturated, NaN as 0), subnormals exactly, and attention reads them as stored', async () => {
    const pool = await BlockPool.create({ headDim: 8, blockSize: 4, format: 'f16' });
    const sequence = pool.addSequence(1, 1);
    const keys = Float32Array.of(1e6, -1e6, Number.NaN, 65520, 2 ** -24, -(2 ** -20), 3 * 2 ** -16, 0.1);
    const values = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    pool.append(sequence, 0, keys, values, Int32Array.of(0));
    const stored = Array.from(pool.keys(sequence, 0, 0));
    expect(stored.slice(0, 7)).toEqual([65504, -65504, 0, 65504, 2 ** -24, -(2 ** -20), 3 * 2 ** -16]);
    expect(stored[7]).toBeCloseTo(0.1, 4);
    const out = new Float32Array(8);
    // a second row: the logits read the saturated and subnormal keys as stored, no NaN or infinity
    // (the subnormal keys move row 0's logit by 0.16: read as zeros, the output would move by ~1e-2)
    pool.append(sequence, 0, Float32Array.of(0, 0, 0, 0, 0, 0, 0, 1), values.map((v) => -v), Int32Array.of(1));
    const query = Float32Array.of(1e-4, 0, 0, 0, 1e4, 1e4, 1e4, 0);
    const expected = attentionF64(query, pool.keys(sequence, 0, 0), pool.values(sequence, 0, 0), 8).out;
    pool.attend(sequence, 0, query, out);
    out.forEach((x, i) => expect(Math.abs(x - expected[i]!)).toBeLessThanOrEqual(KERNEL_SLACK * 8));
    pool.dispose();
  });

  it('keys with outlier channels: per-channel key scales keep int8 attention within its bound and close to f32', async () => {
    // Real models' keys have a few channels tens of times larger than the rest (KIVI, KVQuant); a
    // per-row key scale would spend its levels on them. Per-channel scales give each its own.
    const d = 64;
    const tokens = 200;
    const outliers = [3, 17, 40];
    const keys = randomFloats(21, tokens * d).map((k, i) => (outliers.includes(i % d) ? k * 30 + 20 : k));
    const values = randomFloats(22, tokens * d);
    const query = randomFloats(23, 4 * d);
    const errors: Record<string, number> = {};
    for (const format of ['f32', ...QUANTIZED] as KvFormat[]) {
      const pool = await BlockPool.create({ headDim: d, blockSize: 16, format });
      const sequence = pool.addSequence(1, 1);
      pool.append(sequence, 0, keys, values, Int32Array.from({ length: tokens }, (_, t) => t));
      const out = new Float32Array(query.length);
      pool.attend(sequence, 0, query, out);
      const eK = elementBounds(format, 'keys', keys, d, 16);
      const eV = elementBounds(format, 'values', values, d, 16);
      let worst = 0;
      for (let g = 0; g < 4; g++) {
        const q = query.subarray(g * d, (g + 1) * d);
        const exact = attentionF64(q, keys, values, d).out;
        const bound = attentionBound(q, values, eK, eV, d);
        for (let i = 0; i < d; i++) {
          const error = Math.abs(out[g * d + i]! - exact[i]!);
          expect(error).toBeLessThanOrEqual(bound[i]! + KERNEL_SLACK);
          worst = Math.max(worst, error);
        }
      }
      errors[format] = worst;
      pool.dispose();
    }
    expect(errors.f16!).toBeLessThan(1e-3);
    expect(errors.int8!).toBeLessThan(2e-2);
    expect(errors.int4!).toBeLessThan(0.25);
  });
});

describe('a format per layer and KV head in one pool', () => {
  const d = 32;
  const blockSize = 8;
  const kvHeads = 4;
  const formats: KvFormat[] = ['int4', 'f32', 'int8', 'f16'];

  it('each head stores, compacts, reads back and attends exactly as a pool of its own format does', async () => {
    const allocator = await Allocator.load();
    const mixed = BlockPool.inAllocator(allocator, { headDim: d, blockSize, format: 'int8' });
    const sequence = mixed.addSequence(1, kvHeads, formats);
    expect(formats.map((_, h) => mixed.headFormat(sequence, 0, h))).toEqual(formats);
    const pure = new Map(formats.map((format) => {
      const pool = BlockPool.inAllocator(allocator, { headDim: d, blockSize, format });
      return [format, { pool, sequence: pool.addSequence(1, kvHeads) }] as const;
    }));
    const tokens = 45; // 5 whole blocks and a partly filled one: int8/int4 heads hold a residual
    const keys = randomFloats(71, tokens * kvHeads * d);
    const values = randomFloats(72, tokens * kvHeads * d);
    fill(mixed, sequence, kvHeads, tokens, 4, keys, values);
    for (const { pool, sequence: s } of pure.values()) fill(pool, s, kvHeads, tokens, 4, keys, values);
    const queries = randomFloats(73, 2 * kvHeads * d); // GQA: two query heads per KV head
    const same = () => {
      mixed.check();
      const out = new Float32Array(queries.length);
      mixed.attend(sequence, 0, queries, out);
      formats.forEach((format, h) => {
        const { pool, sequence: s } = pure.get(format)!;
        expect(mixed.keys(sequence, 0, h)).toEqual(pool.keys(s, 0, h));
        expect(mixed.values(sequence, 0, h)).toEqual(pool.values(s, 0, h));
        expect(mixed.positions(sequence, 0, h)).toEqual(pool.positions(s, 0, h));
        const alone = new Float32Array(queries.length);
        pool.attend(s, 0, queries, alone);
        expect(out.subarray(2 * h * d, 2 * (h + 1) * d)).toEqual(alone.subarray(2 * h * d, 2 * (h + 1) * d));
      });
    };
    same();
    // bytes: each head's blocks in its format, the residual of the int8 and int4 heads' partly filled block
    const blockBytes = formats.reduce((sum, format) => sum + 6 * kvBlockBytes(format, blockSize, d), 0);
    const residual = 2 * 2 * blockSize * d * 4;
    expect(mixed.sequenceStats(sequence)).toMatchObject({ blocks: 6 * kvHeads, heldBytes: blockBytes + residual, residualBytes: residual });
    expect(mixed.stats().heldBytes).toBe(blockBytes + residual);
    // a different eviction per head, then more rows after it
    const kept = formats.map((_, h) => Int32Array.from({ length: tokens }, (_, t) => t).filter((t) => (t + h) % 3 !== 0 || t >= tokens - 4));
    mixed.compact(sequence, 0, kept);
    for (const { pool, sequence: s } of pure.values()) pool.compact(s, 0, kept);
    same();
    const more = randomFloats(74, 9 * kvHeads * d);
    mixed.append(sequence, 0, more, more, Int32Array.from({ length: 9 }, (_, t) => tokens + t));
    for (const { pool, sequence: s } of pure.values()) pool.append(s, 0, more, more, Int32Array.from({ length: 9 }, (_, t) => tokens + t));
    same();
    // removal gives every block back to its format's free list; new heads of each format reuse them
    const total = mixed.stats().totalBlocks;
    mixed.removeSequence(sequence);
    expect(mixed.stats()).toMatchObject({ usedBlocks: 0, freeBlocks: total, heldBytes: 0 });
    const again = mixed.addSequence(1, kvHeads, formats);
    fill(mixed, again, kvHeads, tokens, 1, keys, values);
    expect(mixed.stats().totalBlocks).toBe(total);
    mixed.check();
    for (const { pool } of pure.values()) pool.dispose();
    mixed.dispose();
  });

  it('refuses a wrong count of formats, an unknown one and int4 with an odd head dim; maxBlocks bounds every format together', async () => {
    const allocator = await Allocator.load();
    const pool = BlockPool.inAllocator(allocator, { headDim: d, blockSize, format: 'f32', maxBlocks: 5 });
    expect(() => pool.addSequence(2, 2, ['f32', 'int8', 'int4'])).toThrow(/one format per head \(2 layers x 2 KV heads = 4\), got 3/);
    expect(() => pool.addSequence(1, 2, ['f32', 'q8' as KvFormat])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const odd = BlockPool.inAllocator(allocator, { headDim: 7, blockSize });
    expect(() => odd.addSequence(1, 1, ['int4'])).toThrow(/needs an even headDim/);
    const sequence = pool.addSequence(1, 2, ['int4', 'f16']);
    const rows = randomFloats(75, 3 * blockSize * 2 * d);
    pool.append(sequence, 0, rows.subarray(0, 2 * blockSize * 2 * d), rows.subarray(0, 2 * blockSize * 2 * d), Int32Array.from({ length: 2 * blockSize }, (_, t) => t));
    expect(pool.stats().usedBlocks).toBe(4);
    // 2 more blocks would make 6 > 5: refused, nothing written
    expect(() => pool.append(sequence, 0, rows.subarray(2 * blockSize * 2 * d), rows.subarray(2 * blockSize * 2 * d), Int32Array.from({ length: blockSize }, (_, t) => 2 * blockSize + t))).toThrow(
      expect.objectContaining({ code: 'POOL_EXHAUSTED' }),
    );
    expect(pool.length(sequence, 0, 0)).toBe(2 * blockSize);
    pool.check();
    pool.dispose();
    odd.dispose();
  });
});
