import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, type CacheGeometry, DecodeEviction, ReferenceBackend, WasmBackend, WebGpuBackend, getMethod, methodNames } from '../../src/index.js';
import { randomOutputProjection } from '../compression/random-observations.js';
import { decodeStream, heldPositions, runStream } from './decode-stream.js';

// Decode-time eviction is one policy over every backend: the same K/V and query rows streamed through
// a reference, a paged WASM and a WebGPU store (Dawn over SwiftShader here) leave every head holding
// the same positions after every step, for every method that evicts.

const geometry: CacheGeometry = { layers: 2, queryHeads: 8, kvHeads: 2, headDim: 16 };
const gpu = await requestGpu();
const backends: [string, Backend][] = [
  ['wasm', await WasmBackend.create({ blockSize: 4 })],
  ['webgpu', await WebGpuBackend.create({ gpu })],
];
afterAll(() => {
  for (const [, backend] of backends) backend.dispose();
  gpu.device.destroy();
});

const evicting = methodNames.filter((name) => getMethod(name).scorer !== null);
const stream = decodeStream(geometry, 24, 36, 5);
const outputProjection = randomOutputProjection(geometry, 24, 9);
const eviction = (method: string) => ({ method, maxTokensPerHead: 16, every: 4, options: { window: 6, blockSize: 4, maxEvictPerStep: 24 }, outputProjection });

async function history(backend: Backend, method: string): Promise<{ held: number[][][][]; evicted: number; freedBlocks: number }> {
  const store = backend.createStore(geometry);
  try {
    const policy = new DecodeEviction(backend, store, eviction(method));
    const held: number[][][][] = [];
    await runStream(store, policy, stream, () => void held.push(heldPositions(store)));
    return { held, evicted: policy.evictedTokens, freedBlocks: policy.freedBlocks };
  } finally {
    store.dispose();
  }
}

describe.each(backends)('decode-time eviction on %s', (_, backend) => {
  it.each(evicting)('%s keeps the same entries as on the reference backend, step by step', async (method) => {
    const expected = await history(new ReferenceBackend(), method);
    expect(expected.evicted).toBeGreaterThan(0);
    const actual = await history(backend, method);
    actual.held.forEach((step, s) => expect(step, `after step ${s - 1}`).toEqual(expected.held[s]));
    expect([actual.evicted, actual.freedBlocks]).toEqual([expected.evicted, expected.freedBlocks]);
  });
});
