import { type GpuPagedCache, largestStorageBuffer, requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AfterPrefill,
  type MethodName,
  Generator,
  ReferenceStore,
  WebGpuBackend,
  type WebGpuStore,
  cacheGeometry,
  evaluateFidelity,
  loadLlama2cModel,
} from '../../src/index.js';
import { randomCheckpoint } from '../model/random-model.js';
import { stories15m } from '../model/stories15m.js';

const gpu = await requestGpu();
const backend = await WebGpuBackend.create({ gpu });
const smallBlocks = await WebGpuBackend.create({ gpu, blockSize: 4 });
afterAll(() => gpu.device.destroy());

/** The largest difference relative to the largest magnitude of `expected`. */
function worstRelative(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return actual.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0) / scale;
}

describe('stories15M with the forward pass on the GPU', () => {
  const model = stories15m();
  const prompt = 'Once upon a time, a little bunny named Tom lived in a forest full of tall trees. One day he';

  it.each([null, 'snapkv', 'ada-snapkv'] as const)('gives the CPU forward pass\'s greedy tokens (method %s)', async (method) => {
    const geometry = cacheGeometry(model.config);
    const afterPrefill: AfterPrefill = ({ store, observations, backend: where }) =>
      method && where.compress(store, observations, { method, budget: 16, options: { window: 8 } });
    const cpu = await new Generator(model, { afterPrefill }).generate(prompt, { steps: 32, stopAtEndOfText: false });
    const generator = new Generator(model, { backend, afterPrefill });
    const onGpu = await generator.generate(prompt, { steps: 32, stopAtEndOfText: false });
    expect(onGpu.tokens).toEqual(cpu.tokens);
    generator.store.dispose();
  }, 300_000);

  it('prefills on the GPU with the CPU\'s logits and observations (real activations through every kernel)', async () => {
    const tokens = model.tokenizer!.encode(prompt);
    const expected = await new Generator(model).prefill(tokens);
    const store = backend.createStore(cacheGeometry(model.config));
    const actual = await new Generator(model, { backend, store }).prefill(tokens);
    expect(worstRelative(actual.logits, expected.logits)).toBeLessThan(1e-4);
    expected.observations.forEach((layer, i) => {
      for (const kind of ['queries', 'keys', 'values'] as const) expect(worstRelative(actual.observations[i]![kind], layer[kind])).toBeLessThan(1e-4);
    });
    expect(store.length(5, 0)).toBe(tokens.length);
    await expect(new Generator(model, { backend, store }).prefill(tokens)).rejects.toThrow(/already holds entries/);
    store.dispose();
  }, 120_000);

  it('checks its logits against the CPU twin at one step', async () => {
    const geometry = cacheGeometry(model.config);
    const tokens = model.tokenizer!.encode(prompt);
    const cpu = new Generator(model);
    const onGpu = new Generator(model, { backend });
    const store = onGpu.store;
    await cpu.prefill(tokens);
    await onGpu.prefill(tokens);
    const expected = Float32Array.from(await cpu.step(42));
    const actual = await onGpu.step(42);
    let worst = 0;
    expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(actual[i]! - v))));
    expect(worst).toBeLessThan(1e-3);
    store.dispose();
  }, 120_000);

  it('evaluates fidelity with the model on the GPU to the CPU\'s figures', async () => {
    const tokens = model.tokenizer!.encode(`${prompt} He looked at it and smiled, and then he ran home to show his mother what he had found.`);
    const settings = { model, segments: [tokens], methods: ['full', 'ada-snapkv'] as MethodName[], budgets: [16], prefill: 40, continuation: 3, options: { window: 8 } };
    const cpu = await evaluateFidelity(settings);
    const onGpu = await evaluateFidelity({ ...settings, backend });
    expect(onGpu.rows.map((r) => r.method)).toEqual(cpu.rows.map((r) => r.method));
    onGpu.rows.forEach((row, i) => {
      expect(row.kl.mean).toBeCloseTo(cpu.rows[i]!.kl.mean, 4);
      expect(row.agreement.mean).toBe(cpu.rows[i]!.agreement.mean);
      expect(row.kvBytes).toBe(cpu.rows[i]!.kvBytes);
    });
    expect(onGpu.rows[1]!.kl.mean).toBeGreaterThan(0);
  });

  it('refuses a store another backend made', () => {
    expect(() => new Generator(model, { backend, store: new ReferenceStore(cacheGeometry(model.config)) })).toThrow(/not made by the webgpu backend/);
  });
});

describe('a random GQA model with odd sizes on the GPU', () => {
  // head dim 8, 6 query heads over 2 KV heads, a hidden size of 70 and a vocabulary of 37
  const model = loadLlama2cModel(randomCheckpoint({ dim: 48, hiddenDim: 70, layers: 2, heads: 6, kvHeads: 2, vocab: 37, contextLength: 80 }, 5));
  const geometry = cacheGeometry(model.config);
  const prompt = Array.from({ length: 70 }, (_, t) => (t * 7 + 1) % 37); // longer than one 64-key tile

  it('prefills and decodes with the CPU\'s logits and observations', async () => {
    const cpu = new Generator(model);
    const onGpu = new Generator(model, { backend: smallBlocks });
    const store = onGpu.store;
    const [expected, actual] = [await cpu.prefill(prompt), await onGpu.prefill(prompt)];
    expect(worstRelative(actual.logits, expected.logits)).toBeLessThan(1e-4);
    expected.observations.forEach((layer, i) => {
      for (const kind of ['queries', 'keys', 'values'] as const) expect(worstRelative(actual.observations[i]![kind], layer[kind])).toBeLessThan(1e-4);
    });
    for (const token of [3, 36, 0]) expect(worstRelative(await onGpu.step(token), Float32Array.from(await cpu.step(token)))).toBeLessThan(1e-4);
    store.dispose();
  });

  it('prefills a long prompt in chunks with one prefill\'s logits, and compresses it from the store as the CPU does', async () => {
    const request = { method: 'ada-snapkv', budget: 20, options: { window: 6 } } as const;
    const afterPrefill: AfterPrefill = ({ store: s, observations, backend: where }) => where.compress(s, observations, request);
    const cpu = new Generator(model, { afterPrefill });
    const onGpu = new Generator(model, { backend: smallBlocks, afterPrefill, prefillChunk: 16 });
    const [expected, actual] = [await cpu.prefill(prompt), await onGpu.prefill(prompt)];
    expect(actual.observations).toEqual([]);
    expect(worstRelative(actual.logits, expected.logits)).toBeLessThan(1e-4);
    const kept = (plan: unknown) => (plan as { layers: { kept: Int32Array[] }[] }).layers.map((l) => l.kept.map((k) => Array.from(k)));
    expect(kept(actual.afterPrefill)).toEqual(kept(expected.afterPrefill));
    for (const token of [3, 36]) expect(worstRelative(await onGpu.step(token), Float32Array.from(await cpu.step(token)))).toBeLessThan(1e-4);
    onGpu.store.dispose();
  });

  // the cache itself is held to 1,000 append / compact / attend cycles in @adakv/gpu; here every
  // buffer the forward pass adds (activations, staging, uniforms) is counted, after each cycle
  it('releases every buffer over 100 prefill / compress / decode cycles, with decode-time eviction', async () => {
    const own = await WebGpuBackend.create({ gpu, blockSize: 4 });
    const generator = new Generator(model, {
      backend: own,
      afterPrefill: ({ store: s, observations, backend: where }) => where.compress(s, observations, { method: 'ada-snapkv', budget: 3, options: { window: 2 } }),
      eviction: { method: 'ada-snapkv', maxTokensPerHead: 4, every: 2, options: { window: 2 } },
    });
    const store = generator.store as WebGpuStore;
    for (let cycle = 0; cycle < 100; cycle++) {
      generator.reset();
      await generator.prefill(prompt.slice(0, 5 + (cycle % 7)));
      for (let step = 0; step < 3; step++) await generator.step(cycle % 37);
      expect(store.cache.dispatcher.liveTemporary).toBe(0);
    }
    expect(generator.eviction!.evictions).toBeGreaterThan(0);
    // the store's pool (K and V per layer) and one query ring per layer, nothing more
    const cache = store.cache as GpuPagedCache;
    expect(cache.pool.liveBuffers).toBe(2 * geometry.layers);
    expect(cache.liveBuffers).toBe(geometry.layers);
    store.dispose();
    expect(cache.liveBuffers).toBe(0);
    own.dispose();
    expect(cache.pool.liveBuffers).toBe(0);
  });

  it('turns a lost device into a typed DEVICE_LOST error, at decode and at prefill', async () => {
    const own = await WebGpuBackend.create({ gpu: await requestGpu() });
    const generator = new Generator(model, { backend: own });
    const fresh = own.createStore(geometry);
    await generator.prefill(prompt.slice(0, 4));
    own.gpu.device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lost = expect.objectContaining({ code: 'DEVICE_LOST', message: expect.stringMatching(/device was lost/) });
    await expect(generator.step(1)).rejects.toThrow(lost);
    await expect(new Generator(model, { backend: own, store: fresh }).prefill([1, 2])).rejects.toThrow(lost);
  });

  it('refuses a model too large for the device\'s buffers with a typed error that says to run it on the CPU', async () => {
    const huge = { ...model, weights: { ...model.weights, classifier: new Float32Array(largestStorageBuffer(gpu) / 4 + 1) } }; // never written
    const store = backend.createStore(geometry);
    await expect(new Generator(huge, { backend, store }).prefill([1, 2, 3])).rejects.toThrow(
      expect.objectContaining({ code: 'DEVICE_OUT_OF_MEMORY', message: expect.stringMatching(/run the model on the CPU/) }),
    );
    expect(store.length(0, 0)).toBe(0);
    store.dispose();
  });
});
