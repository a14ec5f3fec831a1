import { describe, expect, it } from 'vitest';
import { isSoftwareAdapter } from '../src/device.js';
import { GpuKvPool } from '../src/kv-pool.js';
import { GpuLlamaDecoder, type LlamaShape } from '../src/llama-decoder.js';
import { GpuPagedCache } from '../src/paged-cache.js';
import { expectClose, randomLlama, testGpu } from './helpers.js';

const { gpu } = await testGpu();

// a seeded GQA LLaMA: 4 query heads over 2 KV heads of dim 4, odd hidden size
const shape: LlamaShape = { dim: 16, hiddenDim: 23, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4, vocabSize: 13, contextLength: 96, normEps: 1e-5 };
const cacheShape = { layers: shape.layers, queryHeads: shape.queryHeads, kvHeads: shape.kvHeads, headDim: shape.headDim, blockSize: 4 };
const decoder = new GpuLlamaDecoder(gpu, shape, randomLlama(shape, 11));
const argmaxOf = (logits: Float32Array) => logits.indexOf(Math.max(...logits));
const prompt = (length: number, salt: number) => Array.from({ length }, (_, t) => (t * 7 + salt) % shape.vocabSize);

/** Every head of every layer of `cache` keeps the rows whose index passes `keep`. */
function compactAll(cache: GpuPagedCache, keep: (t: number, layer: number, head: number) => boolean): void {
  for (let layer = 0; layer < shape.layers; layer++) {
    cache.compact(layer, Array.from({ length: shape.kvHeads }, (_, h) => Int32Array.from({ length: cache.length(layer, h) }, (_, t) => t).filter((t) => keep(t, layer, h))));
  }
}

describe('GpuLlamaDecoder.decodeBatch: one submission per step for many sequences', () => {
  it('gives each sequence the logits decode gives it alone: different lengths, GQA, after compaction', async () => {
    const lengths = [1, 9, 23, 40, 5];
    const pool = new GpuKvPool(gpu, cacheShape);
    const batched = lengths.map(() => GpuPagedCache.inPool(pool));
    const alone = lengths.map(() => new GpuPagedCache(gpu, cacheShape)); // each with a private pool
    for (const [i, n] of lengths.entries()) {
      await decoder.prefill(prompt(n, i), batched[i]!);
      await decoder.prefill(prompt(n, i), alone[i]!);
    }
    let tokens = lengths.map((_, i) => (3 * i + 1) % shape.vocabSize);
    let positions = [...lengths];
    let identical = true;
    for (let step = 0; step < 6; step++) {
      if (step === 3) {
        // ragged heads: every sequence evicts differently per layer and head
        for (const [i, cache] of [...batched.entries(), ...alone.entries()]) compactAll(cache, (t, layer, h) => t === 0 || (t * (i + 2) + layer + h) % 3 !== 0);
      }
      const rows = await decoder.decodeBatch(tokens, positions, batched);
      const expected: Float32Array[] = [];
      for (const [i, cache] of alone.entries()) expected.push(await decoder.decode(tokens[i]!, positions[i]!, cache));
      rows.forEach((row, i) => {
        expectClose(row, expected[i]!, 1);
        identical &&= row.every((v, j) => Object.is(v, expected[i]![j]));
      });
      tokens = rows.map(argmaxOf);
      positions = positions.map((p) => p + 1);
    }
    // on SwiftShader the batch's rows were bit-identical to single decodes (the claim is 1e-4 elsewhere)
    if (isSoftwareAdapter(gpu)) expect(identical).toBe(true);
    for (const [i, cache] of batched.entries()) {
      for (let layer = 0; layer < shape.layers; layer++) {
        for (let h = 0; h < shape.kvHeads; h++) {
          expect(cache.positions(layer, h)).toEqual(alone[i]!.positions(layer, h));
          expectClose(await cache.rows(layer, h, 'values'), await alone[i]!.rows(layer, h, 'values'), 1);
        }
      }
    }
    expect(pool.dispatcher.liveTemporary).toBe(0);
    for (const cache of [...batched, ...alone]) cache.destroy();
    pool.destroy();
  });

  it('decodes greedily on the GPU to each sequence\'s argmax, and a batch of one is decode', async () => {
    const pool = new GpuKvPool(gpu, cacheShape);
    const greedy = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const full = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    for (const [i, n] of [4, 17, 2].entries()) {
      await decoder.prefill(prompt(n, i), greedy[i]!);
      await decoder.prefill(prompt(n, i), full[i]!);
    }
    let tokens = [1, 2, 3];
    let positions = [4, 17, 2];
    for (let step = 0; step < 5; step++) {
      const logits = await decoder.decodeBatch(tokens, positions, full);
      const next = await decoder.decodeBatchGreedy(tokens, positions, greedy);
      expect(next).toEqual(logits.map(argmaxOf));
      tokens = next;
      positions = positions.map((p) => p + 1);
    }
    expect(await decoder.decodeGreedy(tokens[1]!, positions[1]!, greedy[1]!)).toBe(argmaxOf(await decoder.decode(tokens[1]!, positions[1]!, full[1]!)));
    pool.destroy();
  });

  it('answers -1 only for the sequence whose logits are not finite', async () => {
    const weights = randomLlama(shape, 12);
    const embedding = weights.tokenEmbedding.slice();
    embedding.fill(Number.NaN, 5 * shape.dim, 6 * shape.dim); // token 5 embeds to NaN
    const broken = new GpuLlamaDecoder(gpu, shape, { ...weights, tokenEmbedding: embedding });
    const pool = new GpuKvPool(gpu, cacheShape);
    const caches = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const next = await broken.decodeBatchGreedy([1, 5, 2], [0, 0, 0], caches);
    expect(next[1]).toBe(-1);
    expect(next[0]).toBeGreaterThanOrEqual(0);
    expect(next[2]).toBeGreaterThanOrEqual(0);
    broken.destroy();
    pool.destroy();
  });

  it('refuses a batch it cannot run, before any cache changes', async () => {
    const pool = new GpuKvPool(gpu, { ...cacheShape, maxBlocks: 4 });
    const [a, b] = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const other = new GpuPagedCache(gpu, cacheShape);
    await decoder.prefill(prompt(4, 0), a); // one full block per KV head: 2 of the 4 blocks of each layer
    await expect(decoder.decodeBatch([1, 2], [0, 0], [a, other])).rejects.toThrow(/same GpuKvPool/);
    await expect(decoder.decodeBatch([1, 2], [4, 4], [a, a])).rejects.toThrow(/appears twice/);
    await expect(decoder.decodeBatch([1, 2], [4], [a, b])).rejects.toThrow(/must match/);
    await expect(decoder.decodeBatch([1, 99], [4, 0], [a, b])).rejects.toThrow(/outside the vocabulary/);
    await expect(decoder.decodeBatch([1, 2], [4, 96], [a, b])).rejects.toThrow(/outside the context/);
    const mismatched = new GpuKvPool(gpu, { ...cacheShape, kvHeads: 1 });
    await expect(decoder.decodeBatch([1], [0], [GpuPagedCache.inPool(mismatched)])).rejects.toThrow(/does not fit the model/);
    mismatched.destroy();
    // a needs a new block per head (2), b one per head (2): 4 wanted, 2 free in each layer
    const before = pool.stats();
    await expect(decoder.decodeBatch([1, 2], [4, 0], [a, b])).rejects.toThrow(expect.objectContaining({ code: 'POOL_EXHAUSTED' }));
    expect(pool.stats()).toEqual(before);
    expect([a.length(0, 0), a.length(1, 1), b.length(0, 0)]).toEqual([4, 4, 0]);
    expect(await decoder.decodeBatch([1], [0], [b])).toHaveLength(1); // b alone fits
    expect(pool.dispatcher.liveTemporary).toBe(0);
    expect(() => new GpuPagedCache(gpu, { ...cacheShape, queryHeads: 5, kvHeads: 2 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/must be a multiple of kvHeads/) }));
    new GpuPagedCache(gpu, { ...cacheShape, queryHeads: 18, kvHeads: 2 }).destroy(); // groups of any size (9 here)
    other.destroy();
    pool.destroy();
  });
});
