import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, KV_FORMATS, OptionError, type PagedStore, ReferenceBackend, Scheduler, WasmBackend, WebGpuBackend, cacheGeometry } from '../../src/index.js';
import { stories15m } from '../model/stories15m.js';

// Stores that keep K/V in fewer bytes: each format on the wasm backend holds fewer bytes than the one
// before it, and the model still reads what it needs from them (real stories15M, greedy tokens).

const model = stories15m();
const geometry = cacheGeometry(model.config);
const backend = await WasmBackend.create();
afterAll(() => backend.dispose());
const prompt = 'Lily went to the park with her mom. She saw a big tree and a little bird.';
// long enough that full blocks, not the f32 residual of each head's last block, hold most of the cache
const longPrompt = [prompt, 'The bird could not fly.', 'Lily wanted to help it.', 'She asked her mom what to do.', 'Her mom said they could take it home.', 'They put it in a box with soft grass.', 'The next day the bird felt better.'].join(' ');

async function run(kvFormat: (typeof KV_FORMATS)[number], eviction = false) {
  const generator = new Generator(model, {
    backend,
    kvFormat,
    ...(eviction ? { eviction: { method: 'ada-snapkv', maxTokensPerHead: 40, every: 8, options: { window: 8 } } } : {}),
  });
  try {
    const result = await generator.generate(longPrompt, { steps: 32, stopAtEndOfText: false });
    return { tokens: result.tokens, bytes: generator.store.bytes(), evicted: generator.eviction?.evictedTokens ?? 0 };
  } finally {
    generator.store.dispose();
  }
}

describe('K/V storage formats on the wasm backend', () => {
  it('holds fewer bytes per format and keeps the greedy text close to the f32 cache', { timeout: 60_000 }, async () => {
    const results = [];
    for (const format of KV_FORMATS) results.push({ format, ...(await run(format)) });
    const [f32, f16, int8, int4] = results;
    expect(f16!.bytes).toBeLessThan(f32!.bytes * 0.55);
    expect(int8!.bytes).toBeLessThan(f16!.bytes);
    expect(int4!.bytes).toBeLessThan(int8!.bytes);
    const agree = (tokens: number[]) => tokens.filter((t, i) => t === f32!.tokens[i]).length / tokens.length;
    expect(agree(f16!.tokens)).toBe(1); // f16 rounding stays far from any greedy tie on this prompt
    expect(agree(int8!.tokens)).toBeGreaterThanOrEqual(0.75);
    expect(agree(int4!.tokens)).toBeGreaterThan(0);
  });

  it('evicts while decoding from quantized blocks, and serves many sequences from a quantized pool', { timeout: 60_000 }, async () => {
    const evicting = await run('int8', true);
    expect(evicting.evicted).toBeGreaterThan(0);
    const scheduler = new Scheduler(model, backend, { kvFormat: 'int4', poolBlocks: 512 });
    const pool = scheduler.pool;
    const results = await Promise.all(['Tom had a red ball.', prompt].map((p) => scheduler.submit({ prompt: p, maxTokens: 12, maxCacheTokens: 32, protectedWindow: 8 }).result));
    expect(results.map((r) => r.tokens.length)).toEqual([12, 12]);
    await scheduler.close();
    expect(pool.stats().usedBlocks).toBe(0);
    pool.dispose();
  });

  it('refuses a format a backend does not store, and a store given with a format', async () => {
    expect(() => new ReferenceBackend().createStore(geometry, { kvFormat: 'int8' })).toThrow(/reference backend stores K\/V as f32, not int8; the wasm and webgpu backends store f32, f16, int8, int4/);
    expect(() => backend.createStore(geometry, { kvFormat: 'int3' as never })).toThrow(/kvFormat must be one of f32, f16, int8, int4/);
    const gpu = await requestGpu();
    const webgpu = await WebGpuBackend.create({ gpu });
    try {
      // the webgpu backend stores every format the wasm one does (test/webgpu/webgpu-store-quantized.test.ts)
      for (const kvFormat of KV_FORMATS) webgpu.createStore(geometry, { kvFormat }).dispose();
      expect(() => webgpu.createStore(geometry, { kvFormat: 'int3' as never })).toThrow(/kvFormat must be one of f32, f16, int8, int4/);
    } finally {
      webgpu.dispose();
      gpu.device.destroy();
    }
    const store = backend.createStore(geometry);
    expect(() => new Generator(model, { backend, store, kvFormat: 'f16' })).toThrow(OptionError);
    store.dispose();
  });

  it('takes a format per layer and KV head on wasm (one store, heads of several formats), checked before anything is made', async () => {
    const formats = Array.from({ length: geometry.layers }, (_, l) => Array.from({ length: geometry.kvHeads }, (_, h) => KV_FORMATS[(l + h) % 4]!));
    const mixed = backend.createStore(geometry, { kvFormats: formats }) as PagedStore;
    const generator = new Generator(model, { backend, store: mixed });
    const result = await generator.generate(prompt, { steps: 8, stopAtEndOfText: false });
    expect(result.tokens).toHaveLength(8);
    for (let l = 0; l < geometry.layers; l++) for (let h = 0; h < geometry.kvHeads; h++) expect(mixed.kvFormat(l, h)).toBe(formats[l]![h]);
    mixed.dispose();
    // kvFormats overrides kvFormat; wrong shapes and names are refused with the shape asked for
    const all = backend.createStore(geometry, { kvFormat: 'f16', kvFormats: formats.map((layer) => layer.map(() => 'int8' as const)) }) as PagedStore;
    expect(all.kvFormat(0, 0)).toBe('int8');
    all.dispose();
    expect(() => backend.createStore(geometry, { kvFormats: formats.slice(1) })).toThrow(/a format for each of 6 layers x 6 KV heads/);
    expect(() => backend.createStore(geometry, { kvFormats: formats.map((layer) => layer.slice(1)) })).toThrow(OptionError);
    expect(() => backend.createStore(geometry, { kvFormats: formats.map((layer) => layer.map(() => 'int3' as never)) })).toThrow(/kvFormat must be one of/);
    expect(() => new ReferenceBackend().createStore(geometry, { kvFormats: formats })).toThrow(/reference backend stores K\/V as f32/);
  });
});
