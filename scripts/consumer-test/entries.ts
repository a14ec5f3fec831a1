// Every public entry, type-checked with the libraries' own .d.ts files (skipLibCheck: false).
import type { BlockPool, PoolStats } from '@adakv/allocator-wasm';
import type { GpuContext } from '@adakv/gpu';
import { type CompressionPlan, type Model, DEMO_PROMPT, Generator, chooseBackend, loadModel } from '@adakv/core';
import { type DefaultModelFiles, loadDefaultModel, tokenSegments } from '@adakv/core/node';
import { ExitCode, createProgram, gutenbergText } from '@adakv/cli';

export async function run(): Promise<CompressionPlan> {
  const model: Model = await loadDefaultModel();
  const { backend } = await chooseBackend('wasm');
  const generator = new Generator(model, {
    backend,
    afterPrefill: ({ store, observations }) => backend.compress(store, observations, { method: 'ada-snapkv', budget: 32 }),
  });
  const { prefill } = await generator.generate(DEMO_PROMPT, { steps: 4 });
  backend.dispose();
  return prefill.afterPrefill as CompressionPlan;
}

export const reload: (bytes: Uint8Array) => Promise<Model> = (bytes) => loadModel(bytes);
export const segments = (model: Model): number[][] => tokenSegments(model.tokenizer!, gutenbergText('bryant-stories'), { count: 2, length: 64 });
export const files: DefaultModelFiles | undefined = undefined;
export const device = (gpu: GpuContext): GPUDevice => gpu.device;
export const stats = (pool: BlockPool): PoolStats => pool.stats();
export const ok: number = ExitCode.ok;
export const program = createProgram;
