import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { type CacheGeometry, ReferenceStore, WebGpuBackend, type WebGpuBackendOptions, type WebGpuStore, compress } from '../../src/index.js';
import { randomObservations, xorshift } from '../compression/random-observations.js';

const gpu = await requestGpu();
afterAll(() => gpu.device.destroy());

/** A store on `gpu` with the given backend options. */
async function gpuStore(geometry: CacheGeometry, options: Omit<WebGpuBackendOptions, 'gpu'> = {}): Promise<WebGpuStore> {
  return (await WebGpuBackend.create({ gpu, ...options })).createStore(geometry) as WebGpuStore;
}

describe('the WebGPU store with f16 K/V storage', () => {
  it('keeps the reference store\'s entries after Ada-SnapKV and decode, at half the bytes, and attends within f16 precision', async () => {
    const geometry: CacheGeometry = { layers: 2, queryHeads: 8, kvHeads: 2, headDim: 16 };
    const n = 60;
    const observations = randomObservations(geometry, n, 5);
    const reference = new ReferenceStore(geometry);
    const half = await gpuStore(geometry, { blockSize: 8, kvFormat: 'f16' });
    const full = await gpuStore(geometry, { blockSize: 8 });
    const stores = [reference, half, full];
    const positions = Int32Array.from({ length: n }, (_, t) => t);
    for (const store of stores) observations.forEach((o, layer) => store.append(layer, o.keys, o.values, positions));
    // plans come from the observations, not the stored rows, so every store keeps the same entries
    const plans = stores.map((store) => compress(store, observations, { method: 'ada-snapkv', budget: 20, options: { window: 6 } }));
    expect(plans[1]).toEqual(plans[0]);
    const random = xorshift(17);
    const row = Float32Array.from({ length: geometry.kvHeads * geometry.headDim }, () => random() - 0.5);
    for (const store of stores) for (let layer = 0; layer < geometry.layers; layer++) store.append(layer, row, row, Int32Array.of(n));
    expect(half.bytes() * 2).toBe(full.bytes());
    for (let layer = 0; layer < geometry.layers; layer++) {
      for (let head = 0; head < geometry.kvHeads; head++) {
        expect(half.positions(layer, head)).toEqual(reference.positions(layer, head));
        const exact = await reference.keys(layer, head);
        const stored = await half.keys(layer, head);
        exact.forEach((v, i) => expect(Math.abs(stored[i]! - v)).toBeLessThanOrEqual(2 ** -10 * Math.abs(v) + 2 ** -24));
      }
      const queries = Float32Array.from({ length: geometry.queryHeads * geometry.headDim }, () => random() * 2 - 1);
      const expected = new Float32Array(queries.length);
      const actual = new Float32Array(queries.length);
      await reference.attend(layer, queries, expected);
      await half.attend(layer, queries, actual);
      expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThanOrEqual(5e-3));
    }
    half.dispose();
    full.dispose();
  });
});
