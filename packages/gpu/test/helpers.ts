import { afterAll, expect } from 'vitest';
import { type GpuContext, requestGpu } from '../src/device.js';
import { Dispatcher } from '../src/dispatcher.js';

/** A device (and a dispatcher on it) for one test file, destroyed after its tests. */
export async function testGpu(): Promise<{ gpu: GpuContext; d: Dispatcher }> {
  const gpu = await requestGpu();
  afterAll(() => gpu.device.destroy());
  return { gpu, d: new Dispatcher(gpu) };
}

/** A seeded generator of numbers in [-1, 1) (an LCG: enough for test data, same on every run). */
export function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** `n` seeded floats in [-scale, scale). */
export function floats(n: number, seed: number, scale = 1): Float32Array {
  const rnd = random(seed);
  return Float32Array.from({ length: n }, () => rnd() * scale);
}

/** A storage buffer holding `data`, read back later with {@link readBack}. */
export function upload(d: Dispatcher, data: Float32Array): GPUBuffer {
  return d.temp(data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, data);
}

/** A storage buffer of `floats` floats that kernels write and tests read back. */
export function output(d: Dispatcher, floats: number): GPUBuffer {
  return d.temp(floats * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
}

export async function readBack(d: Dispatcher, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  return new Float32Array(await d.read(buffer, floats * 4));
}

/** Every `actual` within 1e-4 of `expected`, relative to `max(scale, |expected|)`. */
export function expectClose(actual: Float32Array, expected: ArrayLike<number>, scale: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(scale, Math.abs(expected[i]!)));
  expect(worst).toBeLessThanOrEqual(1e-4);
}
