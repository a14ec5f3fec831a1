import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuError, GpuPagedCache, packUniforms, requestGpu } from '../src/index.js';
import { TwinCache, random, testGpu } from './helpers.js';

const { gpu } = await testGpu();

describe('GpuPagedCache on WebGPU', () => {
  it('finds an adapter', () => {
    expect(gpu.adapterInfo.length).toBeGreaterThan(0);
  });

  it('matches its CPU twin through random appends, compactions and attention (GQA, odd lengths, single tokens)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 300 }), fc.integer(), async (kvHeads, group, tokens, seed) => {
        const headDim = 8;
        const rnd = random(seed);
        const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: kvHeads * group, kvHeads, headDim, blockSize: 4 });
        const twin = new TwinCache(kvHeads, headDim);
        const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rnd() * scale);
        const keys = floats(tokens * kvHeads * headDim, 3);
        const values = floats(tokens * kvHeads * headDim);
        const positions = Int32Array.from({ length: tokens }, (_, t) => t);
        cache.append(0, keys, values, positions);
        twin.append(keys, values, positions);
        const kept = Array.from({ length: kvHeads }, (_, h) => Int32Array.from({ length: tokens }, (_, t) => t).filter((t) => (t * 7 + h + seed) % 3 !== 0 || h === 1));
        cache.compact(0, kept);
        twin.compact(kept);
        const one = floats(kvHeads * headDim);
        cache.append(0, one, one, Int32Array.of(tokens));
        twin.append(one, one, Int32Array.of(tokens));
        for (let h = 0; h < kvHeads; h++) {
          expect(Array.from(cache.positions(0, h))).toEqual(twin.heads[h]!.positions);
          expect(Array.from(await cache.rows(0, h, 'keys'))).toEqual(twin.heads[h]!.keys.flat().map(Math.fround));
        }
        const queries = floats(kvHeads * group * headDim, 2);
        const actual = await cache.attend(0, queries);
        const expected = twin.attend(queries, group);
        expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))));
        cache.destroy();
      }),
      { numRuns: 10 },
    );
  }, 120_000);

  it('gives zeros for a head with no rows, and refuses bad input with typed errors', async () => {
    const cache = new GpuPagedCache(gpu, { layers: 2, queryHeads: 2, kvHeads: 2, headDim: 4 });
    cache.append(0, new Float32Array(8).fill(1), new Float32Array(8).fill(2), Int32Array.of(0));
    cache.compact(0, [Int32Array.of(0), new Int32Array(0)]);
    const out = await cache.attend(0, new Float32Array(8).fill(1));
    expect(Array.from(out)).toEqual([2, 2, 2, 2, 0, 0, 0, 0]);
    expect(() => cache.compact(0, [Int32Array.of(0, 0), new Int32Array(0)])).toThrow(GpuError);
    expect(() => cache.compact(0, [Int32Array.of(5), new Int32Array(0)])).toThrow(/strictly ascending/);
    expect(() => cache.append(0, new Float32Array(3), new Float32Array(3), Int32Array.of(1))).toThrow(GpuError);
    expect(() => cache.length(7, 0)).toThrow(/No layer 7/);
    cache.destroy();
    expect(() => cache.length(0, 0)).toThrow(/destroyed/);
  });

  it('keeps a layer within maxLayerBytes: a refused append changes nothing, a full layer still compacts, and the room it makes is used again', async () => {
    // 16-row blocks of 8 floats: 512 bytes of K per block, 4 blocks per layer at most
    const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 8, maxLayerBytes: 2048 });
    const rows = (tokens: number) => Float32Array.from({ length: tokens * 16 }, (_, i) => i % 13);
    const positions = (from: number, tokens: number) => Int32Array.from({ length: tokens }, (_, t) => from + t);
    cache.append(0, rows(32), rows(32), positions(0, 32)); // 2 blocks per head: all 4
    const before = await cache.rows(0, 1, 'keys');
    expect(() => cache.append(0, rows(1), rows(1), positions(32, 1))).toThrow(expect.objectContaining({ code: 'DEVICE_OUT_OF_MEMORY', message: expect.stringMatching(/maxLayerBytes/) }));
    expect([cache.length(0, 0), cache.length(0, 1)]).toEqual([32, 32]);
    expect(await cache.rows(0, 1, 'keys')).toEqual(before);
    // compaction is in place: a full layer can still evict, and the blocks it frees take new rows
    cache.compact(0, [Int32Array.of(5, 31), Int32Array.of(17)]);
    expect(Array.from(cache.positions(0, 0))).toEqual([5, 31]);
    expect(Array.from(await cache.rows(0, 1, 'keys'))).toEqual(Array.from(before.subarray(17 * 8, 18 * 8)));
    cache.append(0, rows(15), rows(15), positions(32, 15)); // 2 blocks free: head 0 needs 1 more, head 1 none
    expect([cache.length(0, 0), cache.length(0, 1)]).toEqual([17, 16]);
    cache.destroy();
    const roomy = new GpuPagedCache(gpu, { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 8, maxLayerBytes: 3072 });
    roomy.append(0, rows(32), rows(32), positions(0, 32));
    roomy.compact(0, [Int32Array.of(3, 30), Int32Array.of(31)]); // 2 fresh blocks, then 4 freed
    roomy.append(0, rows(40), rows(40), positions(32, 40)); // 2 more blocks per head: the 4 freed
    expect([roomy.length(0, 0), roomy.length(0, 1)]).toEqual([42, 41]);
    roomy.destroy();
    expect(() => new GpuPagedCache(gpu, { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 8, maxLayerBytes: 100 })).toThrow(/must hold the first 4 blocks/);
  });

  it('releases every buffer over 1,000 compress/decode cycles', async () => {
    const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads: 4, kvHeads: 2, headDim: 8 });
    const row = new Float32Array(16).fill(0.5);
    for (let step = 0; step < 1000; step++) {
      cache.append(0, row, row, Int32Array.of(step));
      if (step % 10 === 9) {
        const keep = (h: number) => Int32Array.from({ length: Math.min(6, cache.length(0, h)) }, (_, i) => cache.length(0, h) - Math.min(6, cache.length(0, h)) + i);
        cache.compact(0, [keep(0), keep(1)]);
      }
      if (step % 50 === 0) await cache.attend(0, new Float32Array(32).fill(1));
    }
    expect(cache.dispatcher.liveTemporary).toBe(0);
    expect(cache.liveBuffers).toBe(2);
    cache.destroy();
    expect(cache.liveBuffers).toBe(0);
  });
});

describe('uniform packing', () => {
  it('pads structs to 16 bytes and writes u32 and f32 fields in order', () => {
    const buffer = packUniforms([['a', 'u32'], ['b', 'f32'], ['c', 'u32']], { a: 7, b: 0.5, c: 3 });
    expect(buffer.byteLength).toBe(16);
    const view = new DataView(buffer);
    expect([view.getUint32(0, true), view.getFloat32(4, true), view.getUint32(8, true)]).toEqual([7, 0.5, 3]);
  });
});

describe('a lost device', () => {
  it('surfaces as a DEVICE_LOST GpuError on the next use', async () => {
    const own = await requestGpu();
    const cache = new GpuPagedCache(own, { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 4 });
    cache.append(0, new Float32Array(4).fill(1), new Float32Array(4).fill(1), Int32Array.of(0));
    own.device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(own.lostReason).not.toBeNull();
    expect(() => cache.append(0, new Float32Array(4), new Float32Array(4), Int32Array.of(1))).toThrow(expect.objectContaining({ code: 'DEVICE_LOST' }));
    await expect(cache.attend(0, new Float32Array(8))).rejects.toThrow(/device was lost/);
  });
});

describe('large dispatches', () => {
  it('appends more rows than one grid dimension holds (over 65,535 workgroups)', async () => {
    const own = await requestGpu();
    const tokens = 4200;
    const cache = new GpuPagedCache(own, { layers: 1, queryHeads: 8, kvHeads: 8, headDim: 128 });
    const keys = Float32Array.from({ length: tokens * 8 * 128 }, (_, i) => (i % 97) / 97);
    cache.append(0, keys, keys, Int32Array.from({ length: tokens }, (_, t) => t));
    const head7 = await cache.rows(0, 7, 'keys');
    expect(head7[(tokens - 1) * 128 + 5]).toBeCloseTo(keys[((tokens - 1) * 8 + 7) * 128 + 5]!, 6);
    cache.destroy();
    own.device.destroy();
  }, 60_000);
});
