import { describe, expect, it } from 'vitest';
import { BudgetError, Generator, OptionError, type PagedStore, ReferenceBackend, WasmBackend, cacheGeometry, storeForBytes } from '../../src/index.js';
import { heldBytes } from '../../src/quantization/index.js';
import { stories15m } from '../model/stories15m.js';

const model = stories15m();
const prompt =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, ' +
  'red ball in the park. She ran to it and kicked it high into the sky. The ball flew over the trees and landed in a pond.';

describe('Generator with one byte budget (kvBytes)', async () => {
  const backend = await WasmBackend.create();

  it('holds only the planned entries, in the planned format, within the budget, with their own positions', async () => {
    const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 8 }, options: { window: 8 } } });
    const result = await generator.generate(prompt, { steps: 6 });
    const plan = result.prefill!.bytePlan!;
    const { layers, kvHeads, headDim } = generator.store.geometry;
    const n = result.promptTokens.length;
    expect(plan.bytes).toBe(Math.floor((layers * kvHeads * n * headDim * 8) / 8));
    expect(plan.heldBytes).toBeLessThanOrEqual(plan.bytes);
    expect(plan.format).not.toBe('f32'); // at 1/8, quantizing beats evicting 7 of every 8 entries
    for (let layer = 0; layer < layers; layer++) {
      for (let head = 0; head < kvHeads; head++) {
        const kept = Array.from(plan.plan.layers[layer]!.kept[head]!);
        const decoded = Array.from({ length: 5 }, (_, i) => n + i); // the 6th token is not forwarded yet
        expect(Array.from(generator.store.positions(layer, head))).toEqual([...kept, ...decoded]);
        for (let t = n - 8; t < n; t++) expect(kept).toContain(t); // the protected window
      }
    }
    expect(result.tokens).toHaveLength(6);
    generator.store.dispose();
  });

  it('on wasm gives each layer and KV head its own format where that predicts less error, and stores each head in it', async () => {
    const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 8 }, options: { window: 8 } } });
    const result = await generator.generate(prompt, { steps: 3 });
    const plan = result.prefill!.bytePlan!;
    const store = generator.store as PagedStore;
    const { layers, kvHeads } = store.geometry;
    for (let layer = 0; layer < layers; layer++) for (let head = 0; head < kvHeads; head++) expect(store.kvFormat(layer, head)).toBe(plan.headFormats[layer]![head]);
    // here (1/8 of this prompt's cache) int4 and int8 heads side by side predict less error than either alone
    expect(plan.format).toBe('mixed');
    expect(new Set(plan.headFormats.flat())).toEqual(new Set(['int4', 'int8']));
    const uniform = plan.candidates.filter((c) => c.format !== 'mixed' && c.feasible);
    expect(plan.candidates.find((c) => c.format === 'mixed')!.predictedError).toBeLessThan(Math.min(...uniform.map((c) => c.predictedError)));
    expect(plan.heldBytes).toBeLessThanOrEqual(plan.bytes);
    store.dispose();
    // one format for the sequence when asked
    const one = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 8 }, options: { window: 8 }, mixedFormats: false } });
    const single = (await one.generate(prompt, { steps: 1 })).prefill!.bytePlan!;
    expect(single.format).not.toBe('mixed');
    expect(single.candidates.some((c) => c.format === 'mixed')).toBe(false);
    expect(new Set(single.headFormats.flat())).toEqual(new Set([single.format]));
    one.store.dispose();
  });

  it('storeForBytes holds exactly the bytes a mixed plan plans, each head in its format and with its kept tokens', async () => {
    const generator = new Generator(model, { backend });
    const tokens = (await generator.generate(prompt, { steps: 1 })).promptTokens;
    generator.store.dispose();
    const full = backend.createStore(cacheGeometry(model.config));
    const { observations } = await backend.forwardPass(model).prefill(tokens, full);
    const { store, plan } = await storeForBytes(backend, full, observations, { bytes: { fraction: 1 / 8 }, options: { window: 8 } });
    expect(plan.format).toBe('mixed');
    expect(store.bytes()).toBe(plan.heldBytes); // whole blocks, each in its head's format, no residual
    const paged = store as PagedStore;
    plan.plan.layers.forEach((layer, l) =>
      layer.kept.forEach((kept, h) => {
        expect(paged.kvFormat(l, h)).toBe(plan.headFormats[l]![h]);
        expect(Array.from(paged.positions(l, h))).toEqual(Array.from(kept));
      }),
    );
    store.dispose();
  });

  it('keeps everything in f32 when the budget holds the full cache in whole blocks, and then decodes as the full cache does', async () => {
    const full = await new Generator(model, { backend }).generate(prompt, { steps: 8 });
    const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction: 2 } } });
    const planned = await generator.generate(prompt, { steps: 8 });
    expect(planned.prefill!.bytePlan!.format).toBe('f32');
    expect(planned.tokens).toEqual(full.tokens);
  });

  it('plans again for each prompt, starting from a full f32 store', async () => {
    const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 4 } } });
    const first = await generator.generate(prompt, { steps: 2 });
    const firstStore = generator.store;
    const second = await generator.generate(`${prompt} Lily was sad.`, { steps: 2 });
    expect(generator.store).not.toBe(firstStore);
    const { layers, kvHeads, headDim } = generator.store.geometry;
    const plan = second.prefill!.bytePlan!;
    const held = plan.plan.layers.flatMap((l, layer) => l.kept.map((k, head) => heldBytes(plan.headFormats[layer]![head]!, [k.length], headDim, backend.storeBlockSize)));
    expect(held.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(
      Math.floor((layers * kvHeads * second.promptTokens.length * headDim * 8) / 4),
    );
    expect(first.prefill!.bytePlan!.bytes).toBeLessThan(second.prefill!.bytePlan!.bytes);
  });

  it('on the reference backend plans f32 eviction only', async () => {
    const generator = new Generator(model, { backend: new ReferenceBackend(), kvBytes: { bytes: { fraction: 1 / 4 }, options: { window: 8 } } });
    const result = await generator.generate(prompt, { steps: 1 });
    expect(result.prefill!.bytePlan!.format).toBe('f32');
    expect(result.prefill!.bytePlan!.candidates.map((c) => c.format)).toEqual(['f32']);
    expect(generator.store.bytes()).toBeLessThanOrEqual(result.prefill!.bytePlan!.bytes);
  });

  it('refuses a budget too small for the protected window, naming the smallest that works', async () => {
    const generator = new Generator(model, { backend, kvBytes: { bytes: 1000 } });
    await expect(generator.generate(prompt, { steps: 1 })).rejects.toThrow(BudgetError);
    await expect(generator.generate(prompt, { steps: 1 })).rejects.toThrow(/smallest budget that works is \d+ bytes/);
  });

  it('refuses options that would choose the store or evict from it too', () => {
    expect(() => new Generator(model, { backend, kvFormat: 'int8', kvBytes: { bytes: 1 << 20 } })).toThrow(OptionError);
    expect(() => new Generator(model, { backend, eviction: { method: 'snapkv', maxTokensPerHead: 32 }, kvBytes: { bytes: 1 << 20 } } as never)).toThrow(
      /kvBytes chooses the store.*eviction/,
    );
  });
});
