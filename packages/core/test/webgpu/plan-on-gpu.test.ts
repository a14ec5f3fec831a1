import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BudgetError,
  type CacheGeometry,
  Generator,
  InvalidNumberError,
  OptionError,
  ReferenceStore,
  WebGpuBackend,
  cacheGeometry,
  compress,
  methodNames,
  planCompression,
  planCompressionOnGpu,
} from '../../src/index.js';
import { expectSameCache } from '../compression/expect-same-cache.js';
import { randomObservations, randomOutputProjection } from '../compression/random-observations.js';
import { stories15m } from '../model/stories15m.js';

const gpu = await requestGpu();
afterAll(() => gpu.device.destroy());


describe.each<[string, CacheGeometry]>([
  ['MHA', { layers: 2, queryHeads: 4, kvHeads: 4, headDim: 16 }],
  ['GQA', { layers: 3, queryHeads: 8, kvHeads: 2, headDim: 16 }],
])('planning on the GPU (%s)', (_, geometry) => {
  it.each(methodNames)('gives the CPU plan for %s', async (method) => {
    const observations = randomObservations(geometry, 61, 17);
    for (const [budget, options] of [[20, { window: 6 }], [9, { window: 3, alpha: 0.5, pooling: 'avg', groupReduce: 'max', kernelSize: 5 }], [70, {}]] as const) {
      const request = { geometry, observations, method, budget, options, outputProjection: randomOutputProjection(geometry, 24, 3) };
      expect(await planCompressionOnGpu(request, gpu)).toEqual(planCompression(request));
    }
  });
});

describe('planning stories15M on the GPU', () => {
  const model = stories15m();
  const prompt = 'Once upon a time, a little bunny named Tom lived in a forest full of tall trees. One day he found a big red apple under a bush.';

  it.each(['snapkv', 'ada-snapkv', 'pyramidkv', 'ada-pyramidkv'] as const)('keeps what the CPU keeps from real activations (%s)', async (method) => {
    const { observations } = await new Generator(model).prefill(model.tokenizer!.encode(prompt));
    const request = { geometry: cacheGeometry(model.config), observations, method, budget: 12, options: { window: 8 } };
    expect(await planCompressionOnGpu(request, gpu)).toEqual(planCompression(request));
  });

  it('the webgpu backend compresses its store as compress does the reference store', async () => {
    const geometry = cacheGeometry(model.config);
    const { observations } = await new Generator(model).prefill(model.tokenizer!.encode(prompt));
    const positions = Int32Array.from({ length: observations[0]!.keys.length / (geometry.kvHeads * geometry.headDim) }, (_, t) => t);
    const reference = new ReferenceStore(geometry);
    const backend = await WebGpuBackend.create({ gpu });
    const store = backend.createStore(geometry);
    for (const s of [reference, store]) observations.forEach((o, layer) => s.append(layer, o.keys, o.values, positions));
    const request = { method: 'ada-snapkv', budget: 16, options: { window: 8 } } as const;
    expect(await backend.compress(store, observations, request)).toEqual(compress(reference, observations, request));
    await expectSameCache(reference, store, 5);
    store.dispose();
  });
});

describe('planning on the GPU with bad input', () => {
  const geometry = { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 8 };

  it('throws the CPU planner\'s typed errors, and gives its skipped plan for a prompt no longer than the window', async () => {
    const observations = randomObservations(geometry, 10, 3);
    await expect(planCompressionOnGpu({ geometry, observations, method: 'snapkv', budget: 8, options: { window: 12 } }, gpu)).rejects.toThrow(BudgetError);
    await expect(planCompressionOnGpu({ geometry, observations, method: 'snapkv', budget: 8, options: { window: 0 } }, gpu)).rejects.toThrow(OptionError);
    const short = { geometry, observations, method: 'ada-snapkv', budget: 16, options: { window: 12 } } as const;
    const skipped = await planCompressionOnGpu(short, gpu);
    expect(skipped.skipped).toBe('the prompt (10 tokens) is not longer than the observation window (12)');
    expect(skipped).toEqual(planCompression(short));
    const poisoned = [{ ...observations[0]!, keys: observations[0]!.keys.map((v, i) => (i === 5 ? NaN : v)) }];
    await expect(planCompressionOnGpu({ geometry, observations: poisoned, method: 'snapkv', budget: 8 }, gpu)).rejects.toThrow(InvalidNumberError);
  });
});
