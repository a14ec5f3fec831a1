import { describe, expect, it } from 'vitest';
import { isSoftwareAdapter } from '../src/device.js';
import { GpuError } from '../src/errors.js';
import { GpuKvPool } from '../src/kv-pool.js';
import { GpuLlamaDecoder, type LlamaShape, type LlamaWeights } from '../src/llama-decoder.js';
import { GpuPagedCache } from '../src/paged-cache.js';
import { TwinCache, expectClose, floats, randomLlama, testGpu, twinForward, withBiases } from './helpers.js';

const { gpu } = await testGpu();

/** Logits within 1e-4 of the twin's, relative to the largest of them. */
function expectLogits(actual: Float32Array, expected: Float64Array): void {
  expectClose(actual, expected, Math.max(1, ...Array.from(expected, Math.abs)));
}

const cacheFor = (shape: LlamaShape, options: { blockSize?: number; kvFormat?: 'f32' | 'f16' } = {}) =>
  new GpuPagedCache(gpu, { layers: shape.layers, queryHeads: shape.queryHeads, kvHeads: shape.kvHeads, headDim: shape.headDim, blockSize: options.blockSize ?? 4, kvFormat: options.kvFormat });

const prompt = (length: number, vocabSize: number, salt = 0) => Array.from({ length }, (_, t) => (t * 7 + 3 + salt) % vocabSize);

/** Prefill, decode and the batched decode of `decoder` against the f64 twin forward pass. */
async function checkAgainstTwin(shape: LlamaShape, weights: LlamaWeights): Promise<void> {
  const decoder = new GpuLlamaDecoder(gpu, shape, weights);
  const tokens = prompt(13, shape.vocabSize);
  const twin = twinForward(shape, weights, tokens);
  // prefill: the logits and every layer's cached K/V
  const cache = cacheFor(shape);
  const prefill = await decoder.prefill(tokens, cache);
  expectLogits(prefill.logits, twin.logits);
  for (let layer = 0; layer < shape.layers; layer++) {
    expectClose(prefill.observations[layer]!.queries, twin.queries[layer]!, 1);
    for (let h = 0; h < shape.kvHeads; h++) {
      const column = (rows: Float64Array) => Float64Array.from({ length: tokens.length * shape.headDim }, (_, i) => rows[(Math.floor(i / shape.headDim) * shape.kvHeads + h) * shape.headDim + (i % shape.headDim)]!);
      expectClose(await cache.rows(layer, h, 'keys'), column(twin.keys[layer]!), 1);
      expectClose(await cache.rows(layer, h, 'values'), column(twin.values[layer]!), 1);
    }
  }
  // decode: token by token from a shorter prefill, every step's logits
  const stepped = cacheFor(shape);
  await decoder.prefill(tokens.slice(0, 4), stepped);
  for (let t = 4; t < tokens.length; t++) {
    expectLogits(await decoder.decode(tokens[t]!, t, stepped), twinForward(shape, weights, tokens.slice(0, t + 1)).logits);
  }
  // the batched decode: two sequences of one pool at different positions
  const pool = new GpuKvPool(gpu, { layers: shape.layers, queryHeads: shape.queryHeads, kvHeads: shape.kvHeads, headDim: shape.headDim, blockSize: 4 });
  const [a, b] = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
  const other = prompt(6, shape.vocabSize, 5);
  await decoder.prefill(tokens.slice(0, 9), a);
  await decoder.prefill(other.slice(0, 5), b);
  const rows = await decoder.decodeBatch([tokens[9]!, other[5]!], [9, 5], [a, b]);
  expectLogits(rows[0]!, twinForward(shape, weights, tokens.slice(0, 10)).logits);
  expectLogits(rows[1]!, twinForward(shape, weights, other).logits);
  for (const c of [cache, stepped, a, b]) c.destroy();
  pool.destroy();
  decoder.destroy();
}

describe('GpuLlamaDecoder: Q/K/V biases and NeoX RoPE (Qwen 2)', () => {
  // GQA with odd sizes: 6 query heads over 2 KV heads of 6, odd width and hidden size
  const shape: LlamaShape = { dim: 21, hiddenDim: 27, layers: 2, queryHeads: 6, kvHeads: 2, headDim: 6, vocabSize: 17, contextLength: 40, normEps: 1e-6 };

  it('with biases and NeoX RoPE, prefill, decode and the batched decode equal the f64 twin', async () => {
    const neox = { ...shape, ropeStyle: 'neox' as const };
    await checkAgainstTwin(neox, withBiases(neox, randomLlama(neox, 21), 300));
  });

  it('with biases and adjacent RoPE, and NeoX RoPE without biases, they equal the twin too', async () => {
    await checkAgainstTwin(shape, withBiases(shape, randomLlama(shape, 22), 400));
    const neox = { ...shape, ropeStyle: 'neox' as const, queryHeads: 3, kvHeads: 3 }; // MHA
    await checkAgainstTwin(neox, randomLlama(neox, 23));
  });

  it('the styles differ (NeoX is not adjacent RoPE under another name), and bad biases are refused', () => {
    const weights = withBiases(shape, randomLlama(shape, 24), 500);
    const tokens = prompt(5, shape.vocabSize);
    const [adjacent, neox] = [twinForward(shape, weights, tokens), twinForward({ ...shape, ropeStyle: 'neox' }, weights, tokens)];
    expect(Math.max(...adjacent.logits.map((v, i) => Math.abs(v - neox.logits[i]!)))).toBeGreaterThan(1e-3);
    const broken = { ...weights, layers: weights.layers.map((layer, l) => (l === 1 ? { ...layer, bk: new Float32Array(5) } : layer)) };
    expect(() => new GpuLlamaDecoder(gpu, shape, broken)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/layer 1 bk has 5 floats; the shape needs 12/) }));
    expect(() => new GpuLlamaDecoder(gpu, { ...shape, ropeStyle: 'gptj' as 'neox' }, weights)).toThrow(/ropeStyle must be/);
  });
});

describe('GQA groups of any size', () => {
  it('paged attention over groups of 16 and 18 query heads per KV head equals the twin, across splits', async () => {
    for (const [queryHeads, kvHeads, headDim, lengths] of [[32, 2, 8, [1, 130, 300]], [18, 1, 6, [7, 200]]] as const) {
      const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads, kvHeads, headDim, blockSize: 16 });
      const twin = new TwinCache(kvHeads, headDim);
      let position = 0;
      for (const length of lengths) {
        const keys = floats(length * kvHeads * headDim, position + 1, 2);
        const values = floats(length * kvHeads * headDim, position + 2, 3);
        const positions = Int32Array.from({ length }, (_, t) => position + t);
        cache.append(0, keys, values, positions);
        twin.append(keys, values, positions);
        position += length;
        const queries = floats(queryHeads * headDim, position + 3, 2);
        expectClose(await cache.attend(0, queries), twin.attend(queries, queryHeads / kvHeads), 3);
      }
      cache.destroy();
    }
  });

  it('a model with 16 query heads per KV head prefills and decodes as the twin', async () => {
    const shape: LlamaShape = { dim: 24, hiddenDim: 19, layers: 2, queryHeads: 16, kvHeads: 1, headDim: 4, vocabSize: 11, contextLength: 32, normEps: 1e-5, ropeStyle: 'neox' };
    await checkAgainstTwin(shape, withBiases(shape, randomLlama(shape, 31), 600, 0.2));
  });
});

describe('GpuLlamaDecoder.prefill in chunks (start)', () => {
  // 4 query heads over 2 KV heads of 8, NeoX with biases; blocks of 4 so chunks of 7 straddle blocks
  const shape: LlamaShape = { dim: 16, hiddenDim: 23, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 8, vocabSize: 13, contextLength: 96, normEps: 1e-5, ropeStyle: 'neox' };
  const decoder = new GpuLlamaDecoder(gpu, shape, withBiases(shape, randomLlama(shape, 41), 700, 0.3));
  const tokens = prompt(75, shape.vocabSize); // past one 64-key tile; chunks of 7 leave a last one of 5

  async function chunked(cache: GpuPagedCache, size: number, options: { observe?: boolean } = {}) {
    let logits: Float32Array = new Float32Array(0);
    for (let start = 0; start < tokens.length; start += size) {
      ({ logits } = await decoder.prefill(tokens.slice(start, start + size), cache, { start, ...options }));
    }
    return logits;
  }

  it('chunks of 7 give the logits and cached K/V of one prefill, and of decoding token by token', async () => {
    const [whole, pieces, stepped] = [cacheFor(shape), cacheFor(shape), cacheFor(shape)];
    const one = await decoder.prefill(tokens, whole);
    const logits = await chunked(pieces, 7);
    let decoded: Float32Array = new Float32Array(0);
    for (const [position, token] of tokens.entries()) decoded = await decoder.decode(token, position, stepped);
    expectClose(logits, one.logits, 1);
    expectClose(logits, decoded, 1);
    // each row's arithmetic is the one prefill's: bit-identical on SwiftShader (the claim is 1e-4 elsewhere)
    if (isSoftwareAdapter(gpu)) expect(logits.every((v, i) => Object.is(v, one.logits[i]))).toBe(true);
    for (let layer = 0; layer < shape.layers; layer++) {
      for (let h = 0; h < shape.kvHeads; h++) {
        expect(pieces.positions(layer, h)).toEqual(whole.positions(layer, h));
        for (const kind of ['keys', 'values'] as const) {
          const rows = await pieces.rows(layer, h, kind);
          expectClose(rows, await whole.rows(layer, h, kind), 1);
          expectClose(rows, await stepped.rows(layer, h, kind), 1);
        }
      }
    }
    // decoding continues alike from either
    expectClose(await decoder.decode(3, tokens.length, pieces), await decoder.decode(3, tokens.length, whole), 1);
    expect(pieces.dispatcher.liveTemporary).toBe(0);
    for (const c of [whole, pieces, stepped]) c.destroy();
  });

  it('observes each chunk\'s rows, or only the logits with observe: false', async () => {
    const [observed, blind, whole] = [cacheFor(shape), cacheFor(shape), cacheFor(shape)];
    const one = await decoder.prefill(tokens.slice(0, 30), whole);
    await decoder.prefill(tokens.slice(0, 20), observed, { start: 0 });
    const second = await decoder.prefill(tokens.slice(20, 30), observed, { start: 20 });
    const rowFloats = shape.queryHeads * shape.headDim;
    expect(second.observations).toHaveLength(shape.layers);
    expectClose(second.observations[1]!.queries, one.observations[1]!.queries.subarray(20 * rowFloats), 1);
    expectClose(second.observations[0]!.keys, one.observations[0]!.keys.subarray(20 * shape.kvHeads * shape.headDim), 1);
    await decoder.prefill(tokens.slice(0, 20), blind, { start: 0, observe: false });
    const quiet = await decoder.prefill(tokens.slice(20, 30), blind, { start: 20, observe: false });
    expect(quiet.observations).toEqual([]);
    expectClose(quiet.logits, one.logits, 1);
    for (const c of [observed, blind, whole]) c.destroy();
  });

  it('records the chunks\' query rows: the ring holds the prompt\'s last rows, as seeding from one prefill does', async () => {
    const [pieces, seeded] = [cacheFor(shape), cacheFor(shape)];
    pieces.recordQueries(10); // more than a chunk, fewer than the prompt
    seeded.recordQueries(10);
    await chunked(pieces, 7, { observe: false });
    const one = await decoder.prefill(tokens, seeded); // a whole-prompt prefill records nothing by default
    expect(seeded.recentQueryCount(0)).toBe(0);
    for (let layer = 0; layer < shape.layers; layer++) {
      seeded.seedQueries(layer, one.observations[layer]!.queries, Int32Array.from(tokens, (_, t) => t));
      const [got, want] = [await pieces.recentQueries(layer), await seeded.recentQueries(layer)];
      expect(Array.from(got.positions)).toEqual(Array.from({ length: 10 }, (_, i) => tokens.length - 10 + i));
      expect(got.positions).toEqual(want.positions);
      expectClose(got.queries, want.queries, 1);
    }
    // eviction plans from either alike
    const options = { scorer: 'snapkv', allocation: 'adaptive', window: 10, protectedCount: 8, selectable: 30 } as const;
    expect(await pieces.planEviction(1, options)).toEqual(await seeded.planEviction(1, options));
    // a short chunked prompt: the ring holds all of it; record: false leaves it alone
    const short = cacheFor(shape);
    short.recordQueries(10);
    await decoder.prefill(tokens.slice(0, 3), short, { start: 0 });
    await decoder.prefill(tokens.slice(3, 6), short, { start: 3, record: false });
    expect(Array.from((await short.recentQueries(0)).positions)).toEqual([0, 1, 2]);
    for (const c of [pieces, seeded, short]) c.destroy();
  });

  it('with f16 storage, chunks read the stored K/V as decoding does', async () => {
    const [pieces, stepped] = [cacheFor(shape, { kvFormat: 'f16' }), cacheFor(shape, { kvFormat: 'f16' })];
    const logits = await chunked(pieces, 7, { observe: false });
    let decoded: Float32Array = new Float32Array(0);
    for (const [position, token] of tokens.entries()) decoded = await decoder.decode(token, position, stepped);
    expectClose(logits, decoded, 1);
    for (const c of [pieces, stepped]) c.destroy();
  });

  it('refuses a chunk the cache does not lead up to, before anything changes', async () => {
    const cache = cacheFor(shape);
    await decoder.prefill(tokens.slice(0, 10), cache);
    await expect(decoder.prefill(tokens.slice(10, 14), cache, { start: 9 })).rejects.toThrow(/positions 0\.\.8 in every KV head; layer 0 does not/);
    await expect(decoder.prefill(tokens.slice(10, 14), cache, { start: 11 })).rejects.toThrow(/positions 0\.\.10/);
    await expect(decoder.prefill(tokens.slice(10, 14), cache)).rejects.toThrow(/already holds rows.*pass \{ start \}/);
    await expect(decoder.prefill(tokens.slice(10, 14), cache, { start: -1 })).rejects.toThrow(/start must be an integer/);
    await expect(decoder.prefill([1, 2], cache, { start: shape.contextLength - 1 })).rejects.toThrow(/outside the context/);
    expect(cache.length(0, 0)).toBe(10);
    // a compacted cache cannot continue a prefill
    for (let layer = 0; layer < shape.layers; layer++) cache.compact(layer, Array.from({ length: shape.kvHeads }, () => Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 9])));
    await expect(decoder.prefill(tokens.slice(9, 12), cache, { start: 9 })).rejects.toThrow(GpuError);
    expect(cache.dispatcher.liveTemporary).toBe(0);
    cache.destroy();
  });
});
