import { describe, expect, it } from 'vitest';
import { Generator, KV_FORMATS, type KvFormat, type KvStore, OptionError, type WasmBackend, type WebGpuBackend, type WebGpuStore, cacheGeometry, storeForBytes } from '../../src/index.js';
import { readHeadKv, storeKeptRows } from '../../src/quantization/index.js';
import { stories15m } from '../model/stories15m.js';
import { pairedBackends } from './paired-backends.js';

// One byte budget on both paged backends: the same plan (the planner runs on the CPU from the same
// observations, within f32 rounding of the two forward passes), one format for the sequence or one per
// layer and KV head, each store within the budget in its own block layout, and the same dequantized
// rows and tokens.

const { webgpu, wasm } = await pairedBackends();

const prompt = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog Max.';
const longer =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, ' +
  'red ball in the park. She ran to it and kicked it high into the sky. The ball flew over the trees and landed in a pond.';

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

  it('keeps the protected window in f32 on webgpu as on wasm (fullPrecisionWindow): the same plan, the window exact, the bytes planned', async () => {
    const model = stories15m();
    const window = 8;
    const run = async (backend: WasmBackend | WebGpuBackend) => {
      const budget = { bytes: { fraction: 1 / 3 }, options: { window }, fullPrecisionWindow: true, mixedFormats: false } as const;
      const generator = new Generator(model, { backend, kvBytes: budget });
      const result = await generator.generate(longer, { steps: 1 });
      const plan = result.prefill!.bytePlan!;
      const bytes = generator.store.bytes();
      const windows = [];
      const { layers, kvHeads, headDim: d } = generator.store.geometry;
      for (let layer = 0; layer < layers; layer++) {
        for (let head = 0; head < kvHeads; head++) {
          const kept = plan.plan.layers[layer]!.kept[head]!.length;
          windows.push((await generator.store.keys(layer, head)).slice((kept - window) * d, kept * d));
        }
      }
      generator.store.dispose();
      return { plan, bytes, windows, tokens: result.tokens };
    };
    const [onWasm, onGpu] = [await run(wasm), await run(webgpu)];
    expect(['int8', 'int4']).toContain(onWasm.plan.format);
    expect(onGpu.plan.format).toBe(onWasm.plan.format);
    expect(onGpu.plan.windowRows).toBe(window);
    expect(onGpu.plan.plan.layers.map((l) => l.kept.map((k) => Array.from(k)))).toEqual(onWasm.plan.plan.layers.map((l) => l.kept.map((k) => Array.from(k))));
    // after prefill (the sampled token is not forwarded yet): the bytes planned
    expect(onWasm.bytes).toBe(onWasm.plan.heldBytes);
    expect(onGpu.bytes).toBe(onGpu.plan.heldBytes);
    // the window in f32: what each forward pass computed, so equal within f32 rounding of the two passes
    onWasm.windows.forEach((expected, i) => expected.forEach((v, j) => expect(Math.abs(onGpu.windows[i]![j]! - v)).toBeLessThan(1e-4)));
    expect(onGpu.tokens).toEqual(onWasm.tokens);
  });

  it('holds a plan with a format per layer and KV head on webgpu as on wasm: same entries and formats, rows within tolerance, the same tokens', async () => {
    const model = stories15m();
    const geometry = cacheGeometry(model.config);
    const tokens = (await new Generator(model, { backend: wasm }).generate(longer, { steps: 1 })).promptTokens;
    const prefill = async (backend: WasmBackend | WebGpuBackend) => {
      const full = backend.createStore(geometry);
      const { observations } = await backend.forwardPass(model).prefill(tokens, full);
      return { full, observations };
    };
    const onWasm = await prefill(wasm);
    // at 1/8 of this prompt's cache, int4 and int8 heads side by side predict less error than either alone
    const { store: wasmStore, plan } = await storeForBytes(wasm, onWasm.full, onWasm.observations, { bytes: { fraction: 1 / 8 }, options: { window: 8 } });
    expect(plan.format).toBe('mixed');
    // the same plan carried out on the GPU: a store of the plan's formats holding the kept rows
    const onGpu = await prefill(webgpu);
    const gpuStore = webgpu.createStore(geometry, { kvFormats: plan.headFormats }) as WebGpuStore;
    for (let layer = 0; layer < geometry.layers; layer++) storeKeptRows(gpuStore, layer, await readHeadKv(onGpu.full, layer), plan.plan.layers[layer]!.kept, webgpu.storeBlockSize);
    onGpu.full.dispose();
    for (let layer = 0; layer < geometry.layers; layer++) {
      for (let head = 0; head < geometry.kvHeads; head++) {
        expect(gpuStore.kvFormat(layer, head)).toBe(plan.headFormats[layer]![head]);
        expect(gpuStore.positions(layer, head)).toEqual(wasmStore.positions(layer, head));
        const [expected, actual] = [await wasmStore.values(layer, head), await gpuStore.values(layer, head)];
        const peak = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        // as above: two forward passes' rounding, and a binary16 scale that may round one ulp apart
        expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThan(1e-3 + peak * 2 ** -9));
      }
    }
    const decode = async (backend: WasmBackend | WebGpuBackend, store: KvStore) => {
      const pass = backend.forwardPass(model);
      const out = [];
      let token = 1;
      for (let position = tokens.length; position < tokens.length + 6; position++) out.push((token = (await pass.decodeGreedy([token], [position], [store]))[0]!));
      return out;
    };
    expect(await decode(webgpu, gpuStore)).toEqual(await decode(wasm, wasmStore));
    wasmStore.dispose();
    gpuStore.dispose();
  });

  it('plans a format per layer and KV head on webgpu by default, within the budget in its own block layout', async () => {
    const model = stories15m();
    expect([webgpu.mixedKvFormats, wasm.mixedKvFormats]).toEqual([true, true]);
    const run = async (backend: WasmBackend | WebGpuBackend) => {
      const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 8 }, options: { window: 8 } } });
      const result = await generator.generate(longer, { steps: 1 }); // the first token is not forwarded yet
      const store = generator.store as WebGpuStore;
      const plan = result.prefill!.bytePlan!;
      const stored = plan.headFormats.map((row, l) => row.map((_, h) => store.kvFormat(l, h)));
      const bytes = store.bytes();
      store.dispose();
      return { plan, stored, bytes };
    };
    const [onWasm, onGpu] = [await run(wasm), await run(webgpu)];
    expect(onGpu.plan.format).toBe('mixed');
    expect(onGpu.stored).toEqual(onGpu.plan.headFormats);
    expect(onGpu.bytes).toBe(onGpu.plan.heldBytes); // whole blocks, each in its head's format (GPU layout)
    expect(onGpu.plan.heldBytes).toBeLessThanOrEqual(onGpu.plan.bytes);
    // A GPU int8/int4 block holds one 4-byte word more than a WASM one (its marker), so at a budget's
    // edge a head may take the other format; here at most one in ten does.
    const differ = onGpu.plan.headFormats.flat().filter((format, i) => format !== onWasm.plan.headFormats.flat()[i]).length;
    expect(differ).toBeLessThanOrEqual(Math.ceil(onGpu.plan.headFormats.flat().length / 10));
  });

  it('takes a format per head in a webgpu store: rows as a store of each format holds them, and refuses wrong shapes', async () => {
    const model = stories15m();
    const geometry = cacheGeometry(model.config);
    const formats = (pick: (layer: number, head: number) => KvFormat) => Array.from({ length: geometry.layers }, (_, l) => Array.from({ length: geometry.kvHeads }, (_, h) => pick(l, h)));
    const kvFormats = formats((l, h) => KV_FORMATS[(l + h) % 4]!);
    const mixed = webgpu.createStore(geometry, { kvFormats }) as WebGpuStore;
    const single = new Map(KV_FORMATS.map((kvFormat) => [kvFormat, webgpu.createStore(geometry, { kvFormat })]));
    const tokens = 37;
    const { kvHeads, headDim } = geometry;
    let seed = 3;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 4;
    const keys = Float32Array.from({ length: tokens * kvHeads * headDim }, random);
    const values = Float32Array.from({ length: tokens * kvHeads * headDim }, random);
    const positions = Int32Array.from({ length: tokens }, (_, t) => t);
    for (const store of [mixed, ...single.values()]) store.append(2, keys, values, positions);
    for (let head = 0; head < kvHeads; head++) {
      const format = kvFormats[2]![head]!;
      expect(mixed.kvFormat(2, head)).toBe(format);
      expect(await mixed.values(2, head)).toEqual(await single.get(format)!.values(2, head));
    }
    const queries = Float32Array.from({ length: geometry.queryHeads * headDim }, random);
    const [out, expected] = [new Float32Array(queries.length), new Float32Array(queries.length)];
    await mixed.attend(2, queries, out);
    const group = geometry.queryHeads / kvHeads;
    for (let head = 0; head < kvHeads; head++) {
      await single.get(kvFormats[2]![head]!)!.attend(2, queries, expected);
      for (let i = head * group * headDim; i < (head + 1) * group * headDim; i++) expect(out[i]).toBeCloseTo(expected[i]!, 5);
    }
    for (const store of [mixed, ...single.values()]) store.dispose();
    expect(() => webgpu.createStore(geometry, { kvFormats: [['int8']] })).toThrow(/a format for each of 6 layers x 6 KV heads/);
    expect(() => webgpu.createStore(geometry, { kvFormats: formats(() => 'int3' as KvFormat) })).toThrow(OptionError);
  });
});
