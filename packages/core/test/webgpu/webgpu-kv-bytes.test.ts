import { describe, expect, it } from 'vitest';
import { Generator, type KvFormat, OptionError, type WasmBackend, type WebGpuBackend, cacheGeometry } from '../../src/index.js';
import { stories15m } from '../model/stories15m.js';
import { pairedBackends } from './paired-backends.js';

// One byte budget on both paged backends: the same plan (the planner runs on the CPU from the same
// observations, within f32 rounding of the two forward passes; one format for the sequence, as the
// webgpu store holds), each store within the budget in its own block layout, and the same dequantized
// rows and tokens.

const { webgpu, wasm } = await pairedBackends();

const prompt = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog Max.';

describe('kvBytes on wasm and webgpu', () => {
  it.each([1 / 4, 1 / 8])('plans the same entries and format at %s of the f32 cache and decodes the same tokens', async (fraction) => {
    const model = stories15m();
    const run = async (backend: WasmBackend | WebGpuBackend) => {
      const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction }, options: { window: 8 }, mixedFormats: false } });
      const result = await generator.generate(prompt, { steps: 4 });
      const plan = result.prefill!.bytePlan!;
      const { layers, kvHeads } = generator.store.geometry;
      const rows = [];
      for (let layer = 0; layer < layers; layer++) {
        for (let head = 0; head < kvHeads; head++) rows.push({ positions: generator.store.positions(layer, head), keys: await generator.store.keys(layer, head) });
      }
      generator.store.dispose();
      return { plan, tokens: result.tokens, rows };
    };
    const [onWasm, onGpu] = [await run(wasm), await run(webgpu)];
    expect(onGpu.plan.format).toBe(onWasm.plan.format);
    expect(['int8', 'int4']).toContain(onWasm.plan.format);
    for (const { plan, backend } of [{ plan: onWasm.plan, backend: wasm }, { plan: onGpu.plan, backend: webgpu }]) {
      const lengths = plan.plan.layers.flatMap((l) => l.kept.map((k) => k.length));
      const blocks = lengths.reduce((sum, k) => sum + Math.ceil(k / backend.storeBlockSize), 0);
      expect(plan.heldBytes).toBe(blocks * backend.blockBytes(plan.headFormats[0]![0]!, 48));
      expect(plan.heldBytes).toBeLessThanOrEqual(plan.bytes);
    }
    expect(onGpu.plan.plan.layers.map((l) => l.kept.map((k) => Array.from(k)))).toEqual(onWasm.plan.plan.layers.map((l) => l.kept.map((k) => Array.from(k))));
    onWasm.rows.forEach((expected, i) => {
      expect(Array.from(onGpu.rows[i]!.positions)).toEqual(Array.from(expected.positions));
      let worst = 0;
      let peak = 0;
      expected.keys.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(onGpu.rows[i]!.keys[j]! - v));
        peak = Math.max(peak, Math.abs(v));
      });
      // the two forward passes' K differ by f32 rounding; a scale computed from them may then round up
      // to the next binary16 (one ulp, 2^-10 relative), moving an element by up to levels x that ulp
      expect(worst).toBeLessThan(1e-3 + peak * 2 ** -9);
    });
    expect(onGpu.tokens).toEqual(onWasm.tokens);
  });

  it('plans one format for the sequence on webgpu (its stores hold one) and refuses a store of several', async () => {
    const model = stories15m();
    const geometry = cacheGeometry(model.config);
    expect([webgpu.mixedKvFormats, wasm.mixedKvFormats]).toEqual([false, true]);
    const formats = (pick: (layer: number, head: number) => KvFormat) => Array.from({ length: geometry.layers }, (_, l) => Array.from({ length: geometry.kvHeads }, (_, h) => pick(l, h)));
    expect(() => webgpu.createStore(geometry, { kvFormats: formats((l) => (l === 0 ? 'int8' : 'int4')) })).toThrow(OptionError);
    expect(() => webgpu.createStore(geometry, { kvFormats: [['int8']] })).toThrow(/a format for each of 6 layers x 6 KV heads/);
    webgpu.createStore(geometry, { kvFormats: formats(() => 'int8') }).dispose(); // one format for all heads is fine
    const generator = new Generator(model, { backend: webgpu, kvBytes: { bytes: { fraction: 1 / 4 }, options: { window: 8 } } });
    const plan = (await generator.generate(prompt, { steps: 1 })).prefill!.bytePlan!;
    expect(plan.format).not.toBe('mixed');
    expect(plan.candidates.map((c) => c.format)).not.toContain('mixed');
    generator.store.dispose();
  });
});
