import { describe, expect, it } from 'vitest';
import { Scheduler, type WasmBackend, type WebGpuBackend } from '../../src/index.js';
import { stories15m } from '../model/stories15m.js';
import { pairedBackends } from './paired-backends.js';

// A quantized GPU pool through the scheduler (createPool, batched decode steps over many sequences),
// against the wasm pool of the same format. The stores' equivalence: webgpu-store-quantized.test.ts.

const { webgpu, wasm } = await pairedBackends();

describe('stories15M with int4 K/V in a GPU pool', () => {
  it('serves two sequences from one int4 GPU pool in batched decode steps, as the wasm pool does', async () => {
    const model = stories15m();
    const serve = async (backend: WebGpuBackend | WasmBackend) => {
      const scheduler = new Scheduler(model, backend, { kvFormat: 'int4', poolBlocks: 256 });
      const pool = scheduler.pool;
      const results = await Promise.all(['Tom had a red ball.', 'Once upon a time, there was a cat.'].map((prompt) => scheduler.submit({ prompt, maxTokens: 4 }).result));
      await scheduler.close();
      expect(pool.stats().usedBlocks).toBe(0);
      pool.dispose();
      return results.map((r) => r.tokens);
    };
    const onWasm = await serve(wasm);
    expect(await serve(webgpu)).toEqual(onWasm);
  });
});
