import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuError, type GpuKvFormat, GpuKvPool, GpuLlamaDecoder, GpuMixedCache, GpuPagedCache, type LlamaShape, gpuKvBlockBytes } from '../src/index.js';
import { floats, randomLlama, testGpu } from './helpers.js';

const { gpu } = await testGpu();

const FORMATS: GpuKvFormat[] = ['f32', 'f16', 'int8', 'int4'];

// Each head of a mixed cache must hold and attend exactly as a one-format cache of its format does
// (the same kernels over the same rows); only where the outputs go differs.
describe('GpuMixedCache: a format per layer and KV head on the GPU', () => {
  it('stores, compacts, appends and attends per head as a cache of that head\'s format', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.constantFrom(...FORMATS), { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 1000 }),
        async (kvHeads, group, tokens, picks, seed) => {
          const shape = { layers: 2, queryHeads: kvHeads * group, kvHeads, headDim: 8, blockSize: 4 };
          const kvFormats = [picks.slice(0, kvHeads), picks.slice(4, 4 + kvHeads)];
          const mixed = new GpuMixedCache(gpu, { ...shape, kvFormats });
          const single = new Map(FORMATS.map((kvFormat) => [kvFormat, new GpuPagedCache(gpu, { ...shape, kvFormat })]));
          const all = [mixed, ...single.values()];
          const positions = Int32Array.from({ length: tokens }, (_, t) => t);
          const kept = Array.from({ length: kvHeads }, (_, h) => positions.filter((t) => (t * 5 + h + seed) % 3 !== 0));
          for (let layer = 0; layer < 2; layer++) {
            const keys = floats(tokens * kvHeads * 8, seed + layer, 4);
            const values = floats(tokens * kvHeads * 8, seed + 7 + layer);
            for (const cache of all) cache.append(layer, keys, values, positions);
            for (const cache of all) cache.compact(layer, kept);
            const one = floats(kvHeads * 8, seed + 11);
            for (const cache of all) cache.append(layer, one, one, Int32Array.of(tokens));
            const queries = floats(kvHeads * group * 8, seed + 13, 2);
            const outputs = await Promise.all(all.map((cache) => cache.attend(layer, queries)));
            for (let head = 0; head < kvHeads; head++) {
              const format = kvFormats[layer]![head]!;
              const twin = single.get(format)!;
              expect(mixed.kvFormat(layer, head)).toBe(format);
              expect(mixed.positions(layer, head)).toEqual(twin.positions(layer, head));
              expect(await mixed.rows(layer, head, 'keys')).toEqual(await twin.rows(layer, head, 'keys'));
              expect(await mixed.rows(layer, head, 'values')).toEqual(await twin.rows(layer, head, 'values'));
              const twinOut = outputs[1 + FORMATS.indexOf(format)]!;
              for (let i = head * group * 8; i < (head + 1) * group * 8; i++) {
                // flash-decoding splits follow the longest head attended together: rounding may differ
                expect(Math.abs(outputs[0]![i]! - twinOut[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(twinOut[i]!)));
              }
            }
          }
          // held bytes: each head's blocks in its own format, plus f32 residual slots of int8/int4 heads
          let expected = 0;
          for (let layer = 0; layer < 2; layer++) {
            for (let head = 0; head < kvHeads; head++) {
              const format = kvFormats[layer]![head]!;
              const length = mixed.length(layer, head);
              expected += Math.ceil(length / 4) * gpuKvBlockBytes(format, 4, 8);
              if ((format === 'int8' || format === 'int4') && length % 4 !== 0) expected += 2 * 4 * 8 * 4;
            }
          }
          expect(mixed.bytes()).toBe(expected);
          for (const cache of all) cache.destroy();
        },
      ),
      { numRuns: 8 },
    );
  }, 180_000);

  it('records and seeds query rows per layer as one cache does, and puts them back in head order', async () => {
    const kvFormats: GpuKvFormat[][] = [['int4', 'f32', 'int4']];
    const mixed = new GpuMixedCache(gpu, { layers: 1, queryHeads: 6, kvHeads: 3, headDim: 4, kvFormats });
    mixed.recordQueries(3);
    const seeded = floats(2 * 6 * 4, 3);
    mixed.seedQueries(0, seeded, Int32Array.of(5, 6));
    mixed.append(0, floats(3 * 4, 4), floats(3 * 4, 5), Int32Array.of(7));
    const query = floats(6 * 4, 6);
    await mixed.attend(0, query);
    const { queries, positions } = await mixed.recentQueries(0);
    expect(Array.from(positions)).toEqual([5, 6, 7]);
    expect(queries).toEqual(Float32Array.from([...seeded, ...query]));
    mixed.destroy();
  });

  it('decodes through GpuLlamaDecoder: all heads f32 gives the one-format cache\'s logits bit for bit, mixed ones within int8\'s error', async () => {
    const shape: LlamaShape = { dim: 16, hiddenDim: 24, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4, vocabSize: 13, contextLength: 64, normEps: 1e-5 };
    const decoder = new GpuLlamaDecoder(gpu, shape, randomLlama(shape, 5));
    const cacheShape = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4, blockSize: 4 };
    const plain = new GpuPagedCache(gpu, cacheShape);
    const allF32 = new GpuMixedCache(gpu, { ...cacheShape, kvFormats: [['f32', 'f32'], ['f32', 'f32']] });
    const mixed = new GpuMixedCache(gpu, { ...cacheShape, kvFormats: [['int8', 'f32'], ['f16', 'int8']] });
    const tokens = Array.from({ length: 23 }, (_, t) => (t * 7 + 1) % shape.vocabSize);
    for (const [position, token] of tokens.entries()) {
      const [a, b, c] = [await decoder.decode(token, position, plain), await decoder.decode(token, position, allF32), await decoder.decode(token, position, mixed)];
      expect(b).toEqual(a);
      a.forEach((v, i) => expect(Math.abs(c[i]! - v)).toBeLessThan(0.05 * Math.max(1, Math.abs(v))));
    }
    expect(await decoder.decodeGreedy(2, tokens.length, mixed)).toBeGreaterThanOrEqual(0);
    await expect(decoder.decodeBatch([1, 2], [30, 30], [mixed, plain])).rejects.toThrow(/decodes alone/);
    await expect(decoder.prefill([1, 2], new GpuMixedCache(gpu, { ...cacheShape, kvFormats: [['f32', 'f32'], ['f32', 'f32']] }) as never)).rejects.toThrow(/cannot continue a prefill/);
    for (const cache of [plain, allF32, mixed]) cache.destroy();
    decoder.destroy();
  }, 60_000);

  it('reserves a decode step\'s blocks for every layer at once, pools shared across layers included: a refusal writes nothing', async () => {
    const shape: LlamaShape = { dim: 8, hiddenDim: 8, layers: 2, queryHeads: 2, kvHeads: 2, headDim: 4, vocabSize: 5, contextLength: 16, normEps: 1e-5 };
    const decoder = new GpuLlamaDecoder(gpu, shape, randomLlama(shape, 9));
    // both layers' heads in one f32 pool that may hold 4 blocks: layer 0's 4 tokens take 2, and the next
    // token needs 2 more in each layer: either layer alone fits, both do not
    const cache = new GpuMixedCache(gpu, { layers: 2, queryHeads: 2, kvHeads: 2, headDim: 4, blockSize: 4, maxLayerBytes: 4 * 4 * 4 * 4, kvFormats: [['f32', 'f32'], ['f32', 'f32']] });
    cache.append(0, floats(4 * 2 * 4, 1), floats(4 * 2 * 4, 2), Int32Array.from([0, 1, 2, 3]));
    await expect(decoder.decode(1, 4, cache)).rejects.toMatchObject({ code: 'DEVICE_OUT_OF_MEMORY' });
    expect([0, 1].map((layer) => [cache.length(layer, 0), cache.length(layer, 1)])).toEqual([[4, 4], [0, 0]]);
    cache.destroy();
    decoder.destroy();
  });

  it('shares pools given to it, and refuses bad shapes, formats and use after destroy with typed errors', () => {
    const pools = new Map<string, GpuKvPool>();
    const dispatcher = new GpuKvPool(gpu, { layers: 1, queryHeads: 1, kvHeads: 1, headDim: 4 }).dispatcher;
    const source = (kvHeads: number, queryHeads: number, kvFormat: GpuKvFormat) => {
      const key = `${kvHeads}/${kvFormat}`;
      if (!pools.has(key)) pools.set(key, new GpuKvPool(gpu, { layers: 1, kvHeads, queryHeads, headDim: 4, kvFormat, dispatcher }));
      return pools.get(key)!;
    };
    const shape = { layers: 2, queryHeads: 2, kvHeads: 2, headDim: 4, kvFormats: [['int8', 'f32'], ['f32', 'int8']] as GpuKvFormat[][] };
    const [a, b] = [new GpuMixedCache(gpu, shape, source), new GpuMixedCache(gpu, shape, source)];
    expect([...pools.keys()].sort()).toEqual(['1/f32', '1/int8']);
    expect(a.dispatcher).toBe(dispatcher);
    a.append(1, floats(8, 1), floats(8, 2), Int32Array.of(0));
    expect(b.length(1, 1)).toBe(0);
    a.destroy();
    b.destroy();
    expect(pools.get('1/f32')!.isDestroyed).toBe(false); // shared pools outlive their caches
    for (const pool of pools.values()) pool.destroy();

    const wrong = new GpuKvPool(gpu, { layers: 1, kvHeads: 2, queryHeads: 2, headDim: 4 });
    expect(() => new GpuMixedCache(gpu, shape, () => wrong)).toThrow(/does not fit/); // 2 f32 heads given for 1 int8 head
    expect((wrong as unknown as { sequences: Set<unknown> }).sequences.size).toBe(0); // the refused cache left no sequence in it
    wrong.destroy();
    expect(() => new GpuMixedCache(gpu, { ...shape, kvFormats: [['int8']] })).toThrow(/each of 2 layers x 2 KV heads/);
    expect(() => new GpuMixedCache(gpu, { ...shape, kvFormats: [['int8', 'f64' as GpuKvFormat], ['f32', 'f32']] })).toThrow(GpuError);
    expect(() => new GpuMixedCache(gpu, { ...shape, headDim: 3, kvFormats: [['int4', 'f32'], ['f32', 'f32']] })).toThrow(/even/);
    const cache = new GpuMixedCache(gpu, shape);
    expect(() => cache.length(2, 0)).toThrow(/No layer 2/);
    expect(() => cache.length(0, 5)).toThrow(/KV head 5/);
    expect(() => cache.append(0, floats(3, 1), floats(3, 1), Int32Array.of(0))).toThrow(GpuError);
    expect(() => cache.compact(0, [Int32Array.of(0)])).toThrow(/one index list per KV head/);
    cache.append(0, floats(8, 1), floats(8, 2), Int32Array.of(0));
    expect(() => cache.compact(0, [Int32Array.of(0), Int32Array.of(1)])).toThrow(/strictly ascending/);
    expect(cache.length(0, 0)).toBe(1); // nothing changed
    cache.destroy();
    expect(() => cache.length(0, 0)).toThrow(/destroyed/);
  });
});
