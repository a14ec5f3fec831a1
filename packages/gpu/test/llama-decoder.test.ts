import { describe, expect, it } from 'vitest';
import { largestStorageBuffer } from '../src/device.js';
import { GpuError } from '../src/errors.js';
import { GpuLlamaDecoder, type LlamaShape, type LlamaWeights } from '../src/llama-decoder.js';
import { GpuPagedCache } from '../src/paged-cache.js';
import { expectClose, randomLlama, testGpu } from './helpers.js';

const { gpu } = await testGpu();

// a small GQA LLaMA with seeded weights: 3 query heads over 1 KV head of dim 4, odd hidden size
const shape: LlamaShape = { dim: 12, hiddenDim: 19, layers: 2, queryHeads: 3, kvHeads: 1, headDim: 4, vocabSize: 11, contextLength: 80, normEps: 1e-5 };

const randomWeights = (seed: number): LlamaWeights => randomLlama(shape, seed);

const newCache = () => new GpuPagedCache(gpu, { layers: shape.layers, queryHeads: shape.queryHeads, kvHeads: shape.kvHeads, headDim: shape.headDim, blockSize: 4 });

describe('GpuLlamaDecoder', () => {
  const decoder = new GpuLlamaDecoder(gpu, shape, randomWeights(7));
  const tokens = Array.from({ length: 70 }, (_, t) => (t * 5 + 2) % shape.vocabSize); // past one 64-key tile

  it('prefills a prompt to the logits and K/V of decoding it token by token', async () => {
    const [batched, stepped] = [newCache(), newCache()];
    const prefill = await decoder.prefill(tokens, batched);
    let logits: Float32Array = new Float32Array(0);
    for (const [position, token] of tokens.entries()) logits = await decoder.decode(token, position, stepped);
    expectClose(prefill.logits, logits, 1);
    for (let layer = 0; layer < shape.layers; layer++) {
      expect(batched.positions(layer, 0)).toEqual(stepped.positions(layer, 0));
      expectClose(await batched.rows(layer, 0, 'keys'), await stepped.rows(layer, 0, 'keys'), 1);
      expectClose(await batched.rows(layer, 0, 'values'), await stepped.rows(layer, 0, 'values'), 1);
      expectClose(prefill.observations[layer]!.keys, await batched.rows(layer, 0, 'keys'), 1);
      expect(prefill.observations[layer]!.queries).toHaveLength(tokens.length * shape.queryHeads * shape.headDim);
    }
    // decoding continues from either cache alike
    expectClose(await decoder.decode(3, tokens.length, batched), await decoder.decode(3, tokens.length, stepped), 1);
    batched.destroy();
    stepped.destroy();
  });

  it('decodes greedily on the GPU to the argmax of the logits it would return', async () => {
    const [greedy, full] = [newCache(), newCache()];
    await decoder.prefill(tokens.slice(0, 9), greedy);
    await decoder.prefill(tokens.slice(0, 9), full);
    let token = 4;
    for (let position = 9; position < 20; position++) {
      const logits = await decoder.decode(token, position, full);
      const next = await decoder.decodeGreedy(token, position, greedy);
      expect(next).toBe(logits.indexOf(Math.max(...logits)));
      token = next;
    }
    expect(greedy.dispatcher.liveTemporary).toBe(0);
    greedy.destroy();
    full.destroy();
  });

  it('refuses what it cannot prefill, with the reason', async () => {
    const cache = newCache();
    await expect(decoder.prefill([], cache)).rejects.toThrow(/no tokens/);
    await expect(decoder.prefill([1, shape.vocabSize], cache)).rejects.toThrow(/outside the vocabulary/);
    await expect(decoder.prefill(new Array(shape.contextLength + 1).fill(1), cache)).rejects.toThrow(/outside the context/);
    await decoder.prefill([1, 2], cache);
    await expect(decoder.prefill([1, 2], cache)).rejects.toThrow(GpuError);
    expect(decoder.prefillFits(shape.contextLength)).toBe(true);
    expect(decoder.prefillFits(600_000)).toBe(false); // past one attention dispatch
    expect(cache.dispatcher.liveTemporary).toBe(0);
    cache.destroy();
  });

  it('refuses, before uploading anything, a tensor larger than the device\'s largest storage buffer', () => {
    const weights = randomWeights(8);
    const huge = new Float32Array(largestStorageBuffer(gpu) / 4 + 1); // never written: the check reads its size only
    expect(() => new GpuLlamaDecoder(gpu, shape, { ...weights, classifier: huge })).toThrow(
      expect.objectContaining({ code: 'DEVICE_OUT_OF_MEMORY', message: expect.stringMatching(/classifier takes .* MiB, more than this device's largest storage buffer/) }),
    );
  });
});
