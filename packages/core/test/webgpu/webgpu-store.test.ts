import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  ReferenceStore,
  ShapeError,
  WebGpuBackend,
  type WebGpuBackendOptions,
  type WebGpuStore,
  compress,
  methodNames,
} from '../../src/index.js';
import { randomObservations, randomOutputProjection, xorshift } from '../compression/random-observations.js';
import { expectSameCache } from '../compression/expect-same-cache.js';

const gpu = await requestGpu();
afterAll(() => gpu.device.destroy());

/** A store on `gpu` with the given backend options. */
async function gpuStore(geometry: CacheGeometry, options: Omit<WebGpuBackendOptions, 'gpu'> = {}): Promise<WebGpuStore> {
  return (await WebGpuBackend.create({ gpu, ...options })).createStore(geometry) as WebGpuStore;
}


describe.each<[string, CacheGeometry]>([
  ['MHA', { layers: 2, queryHeads: 4, kvHeads: 4, headDim: 16 }],
  ['GQA', { layers: 2, queryHeads: 8, kvHeads: 2, headDim: 16 }],
])('the WebGPU store and the reference store agree (%s)', (_, geometry) => {
  it.each(methodNames)('after %s compression and decode appends', async (method) => {
    const n = 45;
    const observations = randomObservations(geometry, n, 21);
    const stores = [new ReferenceStore(geometry), await gpuStore(geometry, { blockSize: 8 })] as const;
    const positions = Int32Array.from({ length: n }, (_, t) => t);
    for (const store of stores) observations.forEach((o, layer) => store.append(layer, o.keys, o.values, positions));
    const plans = stores.map((store) => compress(store, observations, { method, budget: 14, options: { window: 5 }, outputProjection: randomOutputProjection(geometry, 24, 3) }));
    expect(plans[1]).toEqual(plans[0]);
    await expectSameCache(stores[0], stores[1], 3);
    const random = xorshift(9);
    for (let step = 0; step < 5; step++) {
      const keys = Float32Array.from({ length: geometry.kvHeads * geometry.headDim }, () => random() - 0.5);
      for (const store of stores) for (let layer = 0; layer < geometry.layers; layer++) store.append(layer, keys, keys, Int32Array.of(n + step));
    }
    await expectSameCache(stores[0], stores[1], 4);
    stores[1].dispose();
  });
});

describe('the WebGPU store on its own', () => {
  it('keeps within maxLayerBytes: a refused append is a typed error and changes nothing', async () => {
    const store = await gpuStore({ layers: 1, queryHeads: 2, kvHeads: 1, headDim: 4 }, { blockSize: 4, maxLayerBytes: 4 * 4 * 4 * 4 });
    const rows = new Float32Array(16 * 4).fill(1);
    store.append(0, rows, rows, Int32Array.from({ length: 16 }, (_, t) => t)); // 4 blocks: all of them
    expect(() => store.append(0, rows.subarray(0, 4), rows.subarray(0, 4), Int32Array.of(16))).toThrow(expect.objectContaining({ code: 'DEVICE_OUT_OF_MEMORY' }));
    expect(store.length(0, 0)).toBe(16);
    store.dispose();
  });

  it('turns bad input into the SDK\'s typed errors', async () => {
    const store = await gpuStore({ layers: 1, queryHeads: 2, kvHeads: 1, headDim: 4 });
    expect(() => store.append(0, new Float32Array(3), new Float32Array(3), Int32Array.of(0))).toThrow(ShapeError);
    await expect(store.attend(0, new Float32Array(3), new Float32Array(3))).rejects.toThrow(ShapeError);
    store.dispose();
  });
});
