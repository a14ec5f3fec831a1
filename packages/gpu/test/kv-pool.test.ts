import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuError, GpuKvPool, GpuPagedCache } from '../src/index.js';
import { TwinCache, random, testGpu } from './helpers.js';

const { gpu } = await testGpu();

const closeTo = (actual: Float32Array, expected: Float32Array) => expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))));

describe('GpuKvPool: one pool, many sequences', () => {
  it('sequences appending, compacting and attending in one pool each equal their CPU twin', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 5 }), fc.integer(), async (kvHeads, group, count, seed) => {
        const [headDim, layers] = [8, 2];
        const rnd = random(seed);
        const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rnd() * scale);
        const pool = new GpuKvPool(gpu, { layers, queryHeads: kvHeads * group, kvHeads, headDim, blockSize: 4 });
        const sequences = Array.from({ length: count }, () => ({ cache: GpuPagedCache.inPool(pool), twins: Array.from({ length: layers }, () => new TwinCache(kvHeads, headDim)), length: 0 }));
        for (let round = 0; round < 3; round++) {
          // interleaved appends of different lengths: blocks of different sequences alternate in the pool
          for (const [i, s] of sequences.entries()) {
            const tokens = 1 + Math.floor((rnd() + 1) * 20 * (i + 1)) % 41;
            const positions = Int32Array.from({ length: tokens }, (_, t) => s.length + t);
            s.length += tokens;
            for (let layer = 0; layer < layers; layer++) {
              const keys = floats(tokens * kvHeads * headDim, 3);
              const values = floats(tokens * kvHeads * headDim);
              s.cache.append(layer, keys, values, positions);
              s.twins[layer]!.append(keys, values, positions);
            }
          }
          for (const [i, s] of sequences.entries()) {
            if ((round + i) % 2 === 0) continue;
            for (let layer = 0; layer < layers; layer++) {
              const kept = Array.from({ length: kvHeads }, (_, h) => Int32Array.from({ length: s.cache.length(layer, h) }, (_, t) => t).filter((t) => (t * 7 + h + i + seed) % 3 !== 0));
              s.cache.compact(layer, kept);
              s.twins[layer]!.compact(kept);
            }
          }
        }
        for (const s of sequences) {
          for (let layer = 0; layer < layers; layer++) {
            const twin = s.twins[layer]!;
            for (let h = 0; h < kvHeads; h++) {
              expect(Array.from(s.cache.positions(layer, h))).toEqual(twin.heads[h]!.positions);
              expect(Array.from(await s.cache.rows(layer, h, 'keys'))).toEqual(twin.heads[h]!.keys.flat().map(Math.fround));
              expect(Array.from(await s.cache.rows(layer, h, 'values'))).toEqual(twin.heads[h]!.values.flat().map(Math.fround));
            }
          }
        }
        // attention one sequence at a time, and all sequences in one batched dispatch
        const rowFloats = kvHeads * group * headDim;
        const queries = floats(count * rowFloats, 2);
        const d = pool.dispatcher;
        for (let layer = 0; layer < layers; layer++) {
          for (const [i, s] of sequences.entries()) closeTo(await s.cache.attend(layer, queries.subarray(i * rowFloats, (i + 1) * rowFloats)), s.twins[layer]!.attend(queries.subarray(i * rowFloats, (i + 1) * rowFloats), group));
          const out = d.temp(queries.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
          GpuPagedCache.encodeAttendBatch(layer, sequences.map((s) => s.cache), d.temp(queries.byteLength, GPUBufferUsage.STORAGE, queries), out);
          const batched = new Float32Array(await d.read(out, queries.byteLength));
          for (const [i, s] of sequences.entries()) closeTo(batched.subarray(i * rowFloats, (i + 1) * rowFloats), s.twins[layer]!.attend(queries.subarray(i * rowFloats, (i + 1) * rowFloats), group));
        }
        for (const s of sequences) s.cache.destroy();
        expect(pool.stats().usedBlocks).toBe(0);
        expect(d.liveTemporary).toBe(0);
        pool.destroy();
        expect(pool.liveBuffers).toBe(0);
      }),
      { numRuns: 6 },
    );
  }, 120_000);

  it('gives a sequence\'s blocks back when it is destroyed, counted over all layers', () => {
    const pool = new GpuKvPool(gpu, { layers: 3, queryHeads: 4, kvHeads: 2, headDim: 8, blockSize: 4, maxBlocks: 10 });
    expect(pool.stats()).toEqual({ totalBlocks: 30, usedBlocks: 0, freeBlocks: 30, blockBytes: 4 * 8 * 4 * 2, residualBytes: 0, bufferBytes: 30 * 4 * 8 * 4 * 2 });
    const [a, b] = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const rows = (tokens: number) => new Float32Array(tokens * 2 * 8).fill(1);
    const positions = (tokens: number) => Int32Array.from({ length: tokens }, (_, t) => t);
    for (let layer = 0; layer < 3; layer++) a.append(layer, rows(5), rows(5), positions(5)); // 2 blocks per head
    b.append(1, rows(3), rows(3), positions(3)); // 1 block per head, in one layer
    expect(pool.stats()).toMatchObject({ usedBlocks: 3 * 2 * 2 + 2, freeBlocks: 30 - 14 });
    expect(a.bytes()).toBe(12 * pool.blockBytes);
    a.destroy();
    expect(pool.stats()).toMatchObject({ usedBlocks: 2, freeBlocks: 28 });
    expect(() => a.length(0, 0)).toThrow(/destroyed/);
    b.compact(1, [new Int32Array(0), Int32Array.of(2)]); // head 0 empties, its block goes back
    expect(pool.stats().usedBlocks).toBe(1);
    pool.destroy();
    expect(() => b.length(0, 0)).toThrow(/destroyed/);
    expect(() => GpuPagedCache.inPool(pool)).toThrow(GpuError);
    expect(pool.liveBuffers).toBe(0);
  });

  it('refuses a request past a fixed pool with POOL_EXHAUSTED, before anything changes', async () => {
    const pool = new GpuKvPool(gpu, { layers: 2, queryHeads: 2, kvHeads: 2, headDim: 4, blockSize: 4, maxBlocks: 5 });
    const [a, b] = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const rows = (tokens: number, value: number) => Float32Array.from({ length: tokens * 2 * 4 }, (_, i) => value + i);
    const positions = (from: number, tokens: number) => Int32Array.from({ length: tokens }, (_, t) => from + t);
    a.append(0, rows(8, 0), rows(8, 0), positions(0, 8)); // 4 of the 5 blocks of layer 0
    const before = { stats: pool.stats(), keys: await a.rows(0, 1, 'keys'), positions: a.positions(0, 0) };
    let error: unknown;
    try {
      b.append(0, rows(1, 9), rows(1, 9), positions(0, 1)); // needs 2 blocks (one per head), 1 is free
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GpuError);
    expect(error).toMatchObject({ code: 'POOL_EXHAUSTED', message: expect.stringMatching(/1 free blocks of 5 in layer 0, and 2 are needed/) });
    expect(pool.stats()).toEqual(before.stats);
    expect([b.length(0, 0), b.length(0, 1)]).toEqual([0, 0]);
    expect(await a.rows(0, 1, 'keys')).toEqual(before.keys);
    expect(a.positions(0, 0)).toEqual(before.positions);
    expect(() => a.append(0, rows(1, 5), rows(1, 5), positions(8, 1))).toThrow(expect.objectContaining({ code: 'POOL_EXHAUSTED' }));
    b.append(1, rows(1, 9), rows(1, 9), positions(0, 1)); // layer 1 has its own blocks
    // eviction makes room: compaction needs no free block
    a.compact(0, [Int32Array.of(0, 7), Int32Array.of(3)]);
    b.append(0, rows(1, 9), rows(1, 9), positions(0, 1));
    expect(pool.stats().freeBlocks).toBe(5 + 5 - 2 - 2 - 2);
    expect(() => new GpuKvPool(gpu, { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 4, maxBlocks: 0 })).toThrow(/maxBlocks must be a positive integer/);
    expect(() => new GpuKvPool(gpu, { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 4, maxBlocks: 1e12 })).toThrow(expect.objectContaining({ code: 'DEVICE_OUT_OF_MEMORY' }));
    pool.destroy();
  });

  it('grows a shared layer with several sequences\' rows in flight, keeping every row', async () => {
    const pool = new GpuKvPool(gpu, { layers: 1, queryHeads: 4, kvHeads: 2, headDim: 4, blockSize: 2 });
    expect(pool.stats().totalBlocks).toBe(pool.initialBlocks);
    const sequences = Array.from({ length: 4 }, () => GpuPagedCache.inPool(pool));
    const twins = sequences.map(() => new TwinCache(2, 4));
    const d = pool.dispatcher;
    // encoded without submitting: the pool grows (4 -> 8 -> 16 -> 32 blocks) between scatters of one command stream
    for (let step = 0; step < 7; step++) {
      sequences.forEach((cache, i) => {
        const data = Float32Array.from({ length: 2 * 4 }, (_, j) => 1000 * i + 10 * step + j);
        const usage = GPUBufferUsage.STORAGE;
        cache.encodeAppend(0, d.temp(data.byteLength, usage, data), d.temp(data.byteLength, usage, data), Int32Array.of(step));
        twins[i]!.append(data, data, Int32Array.of(step));
      });
    }
    expect(pool.stats().totalBlocks).toBe(32);
    d.submit();
    for (const [i, cache] of sequences.entries()) {
      for (let h = 0; h < 2; h++) expect(Array.from(await cache.rows(0, h, 'values'))).toEqual(twins[i]!.heads[h]!.values.flat());
    }
    expect(d.liveTemporary).toBe(0);
    pool.destroy();
  });

  it('refuses sequences of different pools in one batch', () => {
    const shape = { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 4 };
    const [a, b] = [new GpuPagedCache(gpu, shape), new GpuPagedCache(gpu, shape)];
    const buffer = a.dispatcher.temp(64, GPUBufferUsage.STORAGE);
    expect(() => GpuPagedCache.encodeAttendBatch(0, [a, b], buffer, buffer)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/same GpuKvPool/) }));
    expect(() => GpuPagedCache.encodeAppendRows(0, [a, b], buffer, buffer, [0, 0])).toThrow(/same GpuKvPool/);
    a.dispatcher.submit();
    a.destroy();
    b.destroy();
  });
});
