// The same entries from a CommonJS file (node16 resolves them through the `require` conditions).
import type { BlockPool, PoolStats } from '@adakv/allocator-wasm';
import type { GpuContext } from '@adakv/gpu';
import { type Model, Generator, chooseBackend } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { ExitCode } from '@adakv/cli';

export async function run(): Promise<string> {
  const model: Model = await loadDefaultModel();
  const { backend } = await chooseBackend('wasm');
  const { text } = await new Generator(model, { backend }).generate('Once upon a time', { steps: 4 });
  backend.dispose();
  return text;
}
export const device = (gpu: GpuContext): GPUDevice => gpu.device;
export const stats = (pool: BlockPool): PoolStats => pool.stats();
export const ok: number = ExitCode.ok;
