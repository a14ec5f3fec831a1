import { describe, expect, it } from 'vitest';
import {
  type Backend,
  type CompressionPlan,
  Generator,
  type KvStore,
  OptionError,
  ReferenceBackend,
  WasmBackend,
  cacheGeometry,
  compress,
  loadGgufModel,
  loadLlama2cModel,
} from '../../src/index.js';
import { type Shape, randomGguf, referenceLogits, relativeError } from './random-gguf.js';
import { randomCheckpoint } from './random-model.js';
import { stories15m } from './stories15m.js';

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

async function expectSameStores(a: KvStore, b: KvStore, tolerance: number): Promise<void> {
  const { layers, kvHeads } = a.geometry;
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < kvHeads; head++) {
      expect(Array.from(b.positions(layer, head))).toEqual(Array.from(a.positions(layer, head)));
      expect(maxAbsDifference(await a.keys(layer, head), await b.keys(layer, head))).toBeLessThanOrEqual(tolerance);
      expect(maxAbsDifference(await a.values(layer, head), await b.values(layer, head))).toBeLessThanOrEqual(tolerance);
    }
  }
}

const keptOf = (plan: CompressionPlan) => plan.layers.map((layer) => layer.kept.map((kept) => Array.from(kept)));

describe('chunked prefill: a long prompt in bounded pieces', () => {
  const model = stories15m();
  const story =
    'Once upon a time there was a little girl named Lily who lived in a small house by the sea. Every morning she walked to the beach ' +
    'with her dog Max to look for shells. One day they found a big shiny shell that sang when the wind blew. Lily took it home and put it ' +
    'on her window, and at night the shell sang her to sleep. Her brother Tom wanted the shell too, so Lily showed him how to listen, and ' +
    'they shared it. The next summer the children built a sand castle with a tower and a moat, and the shell sat on top like a crown. ' +
    'When autumn came the wind grew cold, the shell sang softer, and Lily knew it was time to give it back to the sea where it belonged.';
  const tokens = model.tokenizer.encode(story).slice(0, 150);

  it('gives the logits and the cache of one prefill, on the reference and the wasm backend', async () => {
    expect(tokens.length).toBe(150);
    for (const backend of [new ReferenceBackend(), await WasmBackend.create()] as Backend[]) {
      const whole = new Generator(model, { backend });
      const chunked = new Generator(model, { backend, prefillChunk: 40 });
      const progress: number[] = [];
      const a = await whole.prefill(tokens);
      const b = await chunked.prefill(tokens, ({ done, total }) => {
        expect(total).toBe(150);
        progress.push(done);
      });
      expect(progress).toEqual([40, 80, 120, 150]);
      expect(b.observations).toEqual([]);
      expect(a.observations).toHaveLength(model.config.layers);
      expect(maxAbsDifference(a.logits, b.logits)).toBeLessThan(backend.name === 'reference' ? 1e-5 : 1e-3);
      await expectSameStores(whole.store, chunked.store, backend.name === 'reference' ? 1e-6 : 1e-4);
      // decoding after a chunked prompt continues as after a whole one
      const next = await Promise.all([whole.step(42), chunked.step(42)]);
      expect(maxAbsDifference(next[0], next[1])).toBeLessThan(1e-3);
      backend.dispose();
    }
  });

  it('compression plans from the store the same entries as from observations', async () => {
    for (const backend of [new ReferenceBackend(), await WasmBackend.create()] as Backend[]) {
      for (const method of ['snapkv', 'ada-snapkv', 'pyramidkv', 'streamingllm'] as const) {
        const request = { method, budget: 40, options: { window: 16 } };
        const afterPrefill = async ({ store, observations, backend: b }: { store: KvStore; observations: readonly never[] | readonly unknown[]; backend: Backend }) =>
          b.compress(store, observations as never, request);
        const whole = new Generator(model, { backend, afterPrefill });
        const chunked = new Generator(model, { backend, afterPrefill, prefillChunk: 32 });
        const a = (await whole.prefill(tokens)).afterPrefill as CompressionPlan;
        const b = (await chunked.prefill(tokens)).afterPrefill as CompressionPlan;
        expect(keptOf(b), `${backend.name} ${method}`).toEqual(keptOf(a));
        expect(b.achievedTotal).toBe(a.achievedTotal);
        expect(b.requestedTotal).toBe(a.requestedTotal);
        await expectSameStores(whole.store, chunked.store, backend.name === 'reference' ? 1e-6 : 1e-4);
      }
      backend.dispose();
    }
  });

  it('generates the same text whole or chunked, with decode-time eviction too', async () => {
    const eviction = { method: 'ada-snapkv', maxTokensPerHead: 64, every: 8, options: { window: 16 } } as const;
    const whole = await new Generator(model, { eviction }).generate(tokens, { steps: 24 });
    const chunked = await new Generator(model, { eviction, prefillChunk: 50 }).generate(tokens, { steps: 24 });
    expect(chunked.tokens).toEqual(whole.tokens);
  });

  it('continues a grouped-query model with odd sizes exactly', async () => {
    const gqa = loadLlama2cModel(randomCheckpoint({ dim: 48, hiddenDim: 70, layers: 3, heads: 6, kvHeads: 2, vocab: 37, contextLength: 64 }, 5));
    const prompt = Array.from({ length: 41 }, (_, t) => (t * 7 + 3) % 37);
    const a = await new Generator(gqa).prefill(prompt);
    const b = await new Generator(gqa, { prefillChunk: 6 }).prefill(prompt);
    expect(maxAbsDifference(a.logits, b.logits)).toBeLessThan(1e-5);
  });

  it('refuses what cannot work, with clear errors', async () => {
    expect(() => new Generator(model, { prefillChunk: 0 })).toThrow(OptionError);
    expect(() => new Generator(model, { promptQueryRows: 1.5 })).toThrow(/promptQueryRows/);
    const pass = new ReferenceBackend().forwardPass(model);
    const store = new ReferenceBackend().createStore(cacheGeometry(model.config));
    await expect(pass.prefill([1, 2], store, { start: 3 })).resolves.toBeDefined(); // an empty store: a chunk may start anywhere
    await expect(pass.prefill([1, 2], store, { start: 4 })).rejects.toThrow(/position 4 or later/);
    await expect(pass.prefill([1], store, { start: -1 })).rejects.toThrow(OptionError);
    // a window wider than the recorded rows cannot be planned from the store
    const narrow = new Generator(model, {
      prefillChunk: 50,
      promptQueryRows: 8,
      afterPrefill: ({ store: s, observations, backend }) => backend.compress(s, observations, { method: 'snapkv', budget: 40, options: { window: 16 } }),
    });
    await expect(narrow.prefill(tokens)).rejects.toThrow(/fewer than the observation window/);
    // the store must hold the whole prompt
    const generator = new Generator(model, { prefillChunk: 50 });
    await generator.prefill(tokens);
    generator.store.compact(0, Array.from({ length: model.config.kvHeads }, () => Int32Array.of(0, 1)));
    await expect(generator.backend.compress(generator.store, [], { method: 'snapkv', budget: 40 })).rejects.toThrow(/whole prompt/);
    expect(() => compress(generator.store, [], { method: 'snapkv', budget: 40 })).toThrow(/one observation per layer/);
  });
});

describe('Generator.continue: a conversation goes on in the same cache', () => {
  const model = stories15m();
  const first = model.tokenizer.encode('Tom had a red ball. He');
  const more = model.tokenizer.encode(' Then his sister came and said', { bos: false });

  it('gives the tokens one generate gives over the whole sequence (greedy)', async () => {
    const session = new Generator(model);
    const a = await session.generate(first, { steps: 6, stopAtEndOfText: false });
    const b = await session.continue(more, { steps: 6, stopAtEndOfText: false });
    expect(b.prefill).toBeNull();
    expect(b.promptTokens).toEqual([a.tokens[5], ...more]); // the last sampled token goes in first
    expect(session.position).toBe(first.length + 6 + more.length + 5);
    const whole = await new Generator(model).generate([...first, ...a.tokens, ...more], { steps: 6, stopAtEndOfText: false });
    expect(b.tokens).toEqual(whole.tokens);
  });

  it('keeps a growing conversation within the eviction limit, and refuses to pass the context', async () => {
    const session = new Generator(model, { eviction: { method: 'ada-snapkv', maxTokensPerHead: 48, every: 8, options: { window: 8 } } });
    await session.generate(first, { steps: 20, stopAtEndOfText: false });
    for (let turn = 0; turn < 3; turn++) await session.continue(more, { steps: 20, stopAtEndOfText: false });
    expect(session.position).toBeGreaterThan(100);
    const { layers, kvHeads } = model.config;
    for (let layer = 0; layer < layers; layer++) {
      let total = 0;
      for (let h = 0; h < kvHeads; h++) total += session.store.length(layer, h);
      expect(total).toBeLessThanOrEqual(kvHeads * 48);
    }
    expect(session.eviction!.evictedTokens).toBeGreaterThan(0);
    await expect(session.continue(more, { steps: 200 })).rejects.toThrow(/context of 256.*start a new sequence|exceed the model's context/);
    await expect(session.continue([], { steps: 1 })).resolves.toBeDefined(); // the pending token alone
  });
});

describe('chunked prefill of a Qwen 2-shaped model in the WASM engine', () => {
  // Qwen2.5-0.5B's attention shape: 14 query heads over 2 KV heads (groups of 7), head dim 64, Q/K/V
  // biases and rotate-half RoPE; a random GGUF written here.
  const shape: Shape = { architecture: 'qwen2', dim: 896, hidden: 256, layers: 2, heads: 14, kvHeads: 2, vocab: 48, context: 64, ropeFreqs: false, tied: true };
  const prompt = Array.from({ length: 41 }, (_, t) => (t * 11 + 3) % 48);

  it.each(['f32', 'q8_0'] as const)('%s tensors: every chunk at its offset in one engine call, the same bits as one prefill, near the f64 forward', async (type) => {
    const { file, tensors } = randomGguf(shape, type, 23);
    const model = await loadGgufModel(file);
    const expected = referenceLogits(shape, tensors, prompt)[prompt.length - 1]!;
    const backend = await WasmBackend.create({ threads: 1 });
    const request = { method: 'ada-snapkv', budget: 24, options: { window: 8 } } as const;
    const afterPrefill = ({ store, observations, backend: b }: { store: KvStore; observations: readonly never[] | readonly unknown[]; backend: Backend }) =>
      b.compress(store, observations as never, request);
    const whole = new Generator(model, { backend });
    const chunked = new Generator(model, { backend, prefillChunk: 9 });
    const a = await whole.prefill(prompt);
    const b = await chunked.prefill(prompt);
    expect(b.observations).toEqual([]);
    expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
    expect(relativeError(b.logits, expected)).toBeLessThan(type === 'f32' ? 1e-4 : 2e-2);
    await expectSameStores(whole.store, chunked.store, 0);
    const next = [await whole.step(5), await chunked.step(5)];
    expect(Array.from(next[1]!)).toEqual(Array.from(next[0]!));
    // compression of the chunked prompt plans from the queries its store recorded: the same entries
    const planWhole = (await new Generator(model, { backend, afterPrefill }).prefill(prompt)).afterPrefill as CompressionPlan;
    const planChunked = (await new Generator(model, { backend, afterPrefill, prefillChunk: 9 }).prefill(prompt)).afterPrefill as CompressionPlan;
    expect(keptOf(planChunked)).toEqual(keptOf(planWhole));
    // a chunk that does not continue the store exactly is refused before anything changes
    const pass = backend.forwardPass(model);
    const store = backend.createStore(cacheGeometry(model.config));
    await pass.prefill(prompt.slice(0, 10), store);
    await expect(pass.prefill(prompt.slice(10, 12), store, { start: 12 })).rejects.toThrow(/exactly positions 0 \.\. 11/);
    expect(store.length(1, 1)).toBe(10);
    const { observations } = await pass.prefill(prompt.slice(10, 12), store, { start: 10 });
    expect(observations[0]!.queries.length).toBe(2 * 14 * 64);
    expect((await pass.prefill(prompt.slice(12, 13), store, { start: 12, observations: false })).observations).toEqual([]);
    backend.dispose();
  });
});
