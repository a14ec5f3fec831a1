import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  type Backend,
  type CompressionPlan,
  type DecodeEvictionOptions,
  Generator,
  ReferenceBackend,
  Transformer,
  WasmBackend,
  WebGpuBackend,
  cacheGeometry,
  getMethod,
  loadLlama2cModel,
  methodNames,
  type MethodName,
} from '../../src/index.js';
import { randomCheckpoint } from '../model/random-model.js';

// The spine of the suite: every registered method on every backend, with decode-time eviction off
// and on, gives the reference backend's plan, kept entries and greedy tokens. Tolerance: the GPU's
// logits and scores agree with the CPU's within f32 rounding (1e-4 relative); on this model no
// greedy choice and no kept entry is that close to a tie, so everything must be equal.

const model = loadLlama2cModel(randomCheckpoint({ dim: 48, hiddenDim: 64, layers: 2, heads: 6, kvHeads: 2, vocab: 40, contextLength: 96 }, 11));
const geometry = cacheGeometry(model.config);
const prompt = Array.from({ length: 30 }, (_, i) => (i * 7 + 3) % 40);
const gpu = await requestGpu();
const backends: Record<string, Backend> = {
  reference: new ReferenceBackend(),
  wasm: await WasmBackend.create({ blockSize: 4 }),
  webgpu: await WebGpuBackend.create({ gpu, blockSize: 4 }),
};
afterAll(() => {
  for (const backend of Object.values(backends)) backend.dispose();
  gpu.device.destroy();
});

interface Outcome {
  tokens: number[];
  plan: CompressionPlan | null;
  positions: Int32Array[][];
  evicted: number;
}

async function run(backend: Backend, method: MethodName, evict: boolean): Promise<Outcome> {
  const eviction: DecodeEvictionOptions | undefined = evict ? { method, maxTokensPerHead: 12, every: 3, options: { window: 4 } } : undefined;
  const generator = new Generator(model, {
    backend,
    afterPrefill: ({ store, observations, outputProjection }) => backend.compress(store, observations, { method, budget: 14, options: { window: 5 }, outputProjection }),
    ...(eviction ? { eviction } : {}),
  });
  try {
    const result = await generator.generate(prompt, { steps: 24, stopAtEndOfText: false });
    const positions = Array.from({ length: geometry.layers }, (_, l) => Array.from({ length: geometry.kvHeads }, (_, h) => generator.store.positions(l, h)));
    return { tokens: result.tokens, plan: result.prefill.afterPrefill as CompressionPlan, positions, evicted: generator.eviction?.evictedTokens ?? 0 };
  } finally {
    generator.store.dispose();
  }
}

describe.each(['wasm', 'webgpu'])('the %s backend gives the reference backend\'s results', (name) => {
  const scoring = methodNames.filter((m) => getMethod(m).scorer !== null);
  const cases = [...methodNames.map((m) => [m, 'off'] as const), ...scoring.map((m) => [m, 'on'] as const)];

  it.each(cases)('%s, decode-time eviction %s', async (method, eviction) => {
    const evict = eviction === 'on';
    const expected = await run(backends.reference!, method, evict);
    const actual = await run(backends[name]!, method, evict);
    expect(actual.plan).toEqual(expected.plan);
    expect(actual.tokens).toEqual(expected.tokens);
    expect(actual.positions).toEqual(expected.positions);
    expect(actual.evicted).toBe(expected.evicted);
    if (evict) expect(actual.evicted).toBeGreaterThan(0); // the limit was reached: eviction really ran
  });
});

describe('webgpu with decode-time eviction', () => {
  it('runs the whole forward pass on the GPU, and scores from queries that never leave it', async () => {
    const cpu = ['prefill', 'decode', 'decodeBatch', 'decodeGreedy'].map((name) => vi.spyOn(Transformer.prototype, name as 'decode'));
    const backend = backends.webgpu!;
    const generator = new Generator(model, { backend, eviction: { method: 'ada-snapkv', maxTokensPerHead: 12, every: 3, options: { window: 4 } } });
    const readBack = ['recentQueries', 'keys', 'values'].map((name) => vi.spyOn(generator.store, name as 'keys'));
    const result = await generator.generate(prompt, { steps: 24, stopAtEndOfText: false });
    for (const spy of [...cpu, ...readBack]) expect(spy).not.toHaveBeenCalled();
    expect(generator.eviction!.evictedTokens).toBeGreaterThan(0);
    const onCpu = new Generator(model, { eviction: { method: 'ada-snapkv', maxTokensPerHead: 12, every: 3, options: { window: 4 } } });
    expect(result.tokens).toEqual((await onCpu.generate(prompt, { steps: 24, stopAtEndOfText: false })).tokens);
    generator.store.dispose();
    for (const spy of [...cpu, ...readBack]) spy.mockRestore();
  });
});
