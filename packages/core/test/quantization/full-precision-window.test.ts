import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  planCompression,
  Generator,
  OptionError,
  type PagedStore,
  WasmBackend,
  cacheGeometry,
  storeForBytes,
} from '../../src/index.js';
import { type HeadKv, heldBytes, planForBytes, storeKeptRows } from '../../src/quantization/index.js';
import { randomObservations } from '../compression/random-observations.js';
import { stories15m } from '../model/stories15m.js';
import { expectSmallestBudgetWorks } from './smallest-budget.js';

const setting = fc.record({
  layers: fc.integer({ min: 1, max: 2 }),
  kvHeads: fc.integer({ min: 1, max: 3 }),
  group: fc.integer({ min: 1, max: 2 }),
  headDim: fc.constantFrom(8, 16, 10),
  n: fc.integer({ min: 2, max: 64 }),
  window: fc.integer({ min: 1, max: 7 }),
  blockSize: fc.constantFrom(8, 16),
  fraction: fc.double({ min: 0.1, max: 1.5, noNaN: true }),
  method: fc.constantFrom('kvcompress', 'ada-snapkv'),
  seed: fc.integer({ min: 1, max: 1 << 20 }),
});

/** Head `h`'s rows `[n][headDim]` of an observation laid out `[n][kvHeads][headDim]`. */
function headRows(geometry: CacheGeometry, keys: Float32Array, values: Float32Array, h: number): HeadKv {
  const { kvHeads, headDim: d } = geometry;
  const n = keys.length / (kvHeads * d);
  const pick = (all: Float32Array) => {
    const out = new Float32Array(n * d);
    for (let t = 0; t < n; t++) out.set(all.subarray((t * kvHeads + h) * d, (t * kvHeads + h + 1) * d), t * d);
    return out;
  };
  return { keys: pick(keys), values: pick(values) };
}

const residualBytes = (blockSize: number, headDim: number) => 2 * blockSize * headDim * 4;

describe('a byte budget with the protected window at full precision (fullPrecisionWindow)', async () => {
  const backends = new Map<number, WasmBackend>();
  for (const blockSize of [8, 16]) backends.set(blockSize, await WasmBackend.create({ blockSize, threads: 1 }));

  it('plans within the budget, counts each int8/int4 head its f32 residual, and stores the window exactly in f32', async () => {
    await fc.assert(
      fc.asyncProperty(setting, async (s) => {
        const geometry: CacheGeometry = { layers: s.layers, queryHeads: s.kvHeads * s.group, kvHeads: s.kvHeads, headDim: s.headDim };
        const observations = randomObservations(geometry, s.n, s.seed);
        const input = {
          geometry,
          observations,
          bytes: { fraction: s.fraction },
          method: s.method,
          options: { window: s.window },
          blockSize: s.blockSize,
          fullPrecisionWindow: true,
        } as const;
        let chosen;
        try {
          chosen = planForBytes(input);
        } catch (error) {
          expectSmallestBudgetWorks(error, input);
          return;
        }
        const w = Math.min(s.window, s.n);
        expect(chosen.windowRows).toBe(w);
        expect(chosen.heldBytes).toBeLessThanOrEqual(chosen.bytes);
        expect(chosen.headFormats.flat()).not.toContain('f16');
        // bytes: each head's whole blocks in its format, and an int8/int4 head's residual block
        let planned = 0;
        chosen.plan.layers.forEach((layer, l) =>
          layer.kept.forEach((kept, h) => {
            const format = chosen.headFormats[l]![h]!;
            const quantized = format === 'int8' || format === 'int4';
            planned += heldBytes(format, [kept.length], s.headDim, s.blockSize) + (quantized ? residualBytes(s.blockSize, s.headDim) : 0);
            for (let t = s.n - w; t < s.n; t++) expect(kept).toContain(t); // the window is kept
            // the window fits in the last, partly filled block beside the other entries
            if (quantized) expect(((kept.length - w) % s.blockSize) + w).toBeLessThan(s.blockSize);
          }),
        );
        expect(planned).toBe(chosen.heldBytes);

        // on the wasm pool: the bytes planned, the window's rows bit for bit, every kept position
        const backend = backends.get(s.blockSize)!;
        const store = backend.createStore(geometry, { kvFormats: chosen.headFormats }) as PagedStore;
        try {
          observations.forEach((o, l) => {
            const rows = Array.from({ length: s.kvHeads }, (_, h) => headRows(geometry, o.keys, o.values, h));
            storeKeptRows(store, l, rows, chosen.plan.layers[l]!.kept, s.blockSize, chosen.windowRows);
          });
          expect(store.bytes()).toBe(chosen.heldBytes);
          for (let l = 0; l < s.layers; l++) {
            const rows = Array.from({ length: s.kvHeads }, (_, h) => headRows(geometry, observations[l]!.keys, observations[l]!.values, h));
            for (let h = 0; h < s.kvHeads; h++) {
              const kept = chosen.plan.layers[l]!.kept[h]!;
              expect(Array.from(store.positions(l, h))).toEqual(Array.from(kept));
              const keys = await store.keys(l, h);
              const values = await store.values(l, h);
              const d = s.headDim;
              for (let r = kept.length - w; r < kept.length; r++) {
                const t = kept[r]!;
                expect(keys.subarray(r * d, (r + 1) * d)).toEqual(rows[h]!.keys.subarray(t * d, (t + 1) * d));
                expect(values.subarray(r * d, (r + 1) * d)).toEqual(rows[h]!.values.subarray(t * d, (t + 1) * d));
              }
            }
          }
        } finally {
          store.dispose();
        }
        expect(planForBytes(input)).toEqual(chosen);
      }),
      { numRuns: 40, seed: 29 },
    );
  });

  it('planCompression with windowApart: the entries besides the window in whole blocks, or a last block that leaves room for it', () => {
    fc.assert(
      fc.property(setting, fc.integer({ min: 1, max: 64 }), (s, budget) => {
        const geometry: CacheGeometry = { layers: s.layers, queryHeads: s.kvHeads * s.group, kvHeads: s.kvHeads, headDim: s.headDim };
        const observations = randomObservations(geometry, s.n, s.seed);
        const w = Math.min(s.window, s.n);
        const request = { method: s.method, geometry, observations, budget: Math.max(budget, s.window), options: { window: s.window }, blockSize: s.blockSize };
        const apart = planCompression({ ...request, windowApart: true });
        const together = planCompression(request);
        if (apart.skipped || s.n <= request.budget) return; // nothing evicted: nothing rounded
        apart.layers.forEach((layer, l) => {
          let kept = 0;
          layer.kept.forEach((indices) => {
            for (let t = s.n - w; t < s.n; t++) expect(indices).toContain(t);
            const others = indices.length - w;
            expect(others % s.blockSize === 0 || (others % s.blockSize) + w < s.blockSize).toBe(true);
            kept += indices.length;
          });
          // no more entries than the same budget rounded with the window inside the blocks, plus the windows' block
          const before = together.layers[l]!.kept.reduce((sum, k) => sum + k.length, 0);
          if (s.method === 'ada-snapkv') expect(kept).toBeLessThanOrEqual(before + s.kvHeads * s.blockSize);
        });
      }),
      { numRuns: 60, seed: 31 },
    );
  });

  it('refuses a window of a block or more where int8/int4 would hold it, and f16 alone, with an OptionError saying what to change', () => {
    const geometry: CacheGeometry = { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 8 };
    const observations = randomObservations(geometry, 40, 3);
    const input = { geometry, observations, bytes: { fraction: 1 / 2 }, blockSize: 16, fullPrecisionWindow: true } as const;
    expect(() => planForBytes({ ...input, options: { window: 16 } })).toThrow(OptionError);
    expect(() => planForBytes({ ...input, options: { window: 16 } })).toThrow(/Lower the window below 16, or use larger blocks/);
    expect(() => planForBytes({ ...input, options: { window: 8 }, formats: ['f16'] })).toThrow(/f32, int8 or int4/);
    // without the option the same window is fine
    expect(planForBytes({ ...input, fullPrecisionWindow: false, options: { window: 16 } }).windowRows).toBe(0);
    // storing apart needs every head to end with the same window tokens
    const backend = backends.get(16)!;
    const store = backend.createStore(geometry, { kvFormat: 'int8' });
    const rows = Array.from({ length: 2 }, (_, h) => headRows(geometry, observations[0]!.keys, observations[0]!.values, h));
    const kept = [Int32Array.from([0, 1, 36, 37, 38, 39]), Int32Array.from([0, 1, 2, 37, 38, 39])];
    expect(() => storeKeptRows(store, 0, rows, kept, 16, 4)).toThrow(/head 1 of layer 0 does not end with the 4 window entries/);
    store.dispose();
    // f32 alone holds any window in f32 (the reference backend: blocks of 1 row)
    const f32 = planForBytes({ ...input, options: { window: 16 }, formats: ['f32'], blockSize: 1 });
    expect(f32.headFormats.flat().every((f) => f === 'f32')).toBe(true);
  });

  it('on stories15M: the window decodes from exact f32 rows, the store holds the bytes planned, and decoding goes on', async () => {
    const model = stories15m();
    const backend = backends.get(16)!;
    const prompt =
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, ' +
      'red ball in the park. She ran to it and kicked it high into the sky. The ball flew over the trees and landed in a pond.';
    const tokens = (await new Generator(model, { backend }).generate(prompt, { steps: 1 })).promptTokens;
    const geometry = cacheGeometry(model.config);
    const full = backend.createStore(geometry);
    const { observations } = await backend.forwardPass(model).prefill(tokens, full);
    const window = 8;
    const exact = await Promise.all(Array.from({ length: geometry.kvHeads }, (_, h) => full.keys(0, h)));
    const { store, plan } = await storeForBytes(backend, full, observations, { bytes: { fraction: 1 / 3 }, options: { window }, fullPrecisionWindow: true });
    const paged = store as PagedStore;
    const n = tokens.length;
    const quantized = plan.headFormats.flat().filter((f) => f === 'int8' || f === 'int4').length;
    expect(quantized).toBeGreaterThan(0);
    expect(store.bytes()).toBe(plan.heldBytes);
    for (let h = 0; h < geometry.kvHeads; h++) {
      const keys = await paged.keys(0, h);
      const kept = plan.plan.layers[0]!.kept[h]!.length;
      const d = geometry.headDim;
      expect(keys.subarray((kept - window) * d, kept * d)).toEqual(exact[h]!.subarray((n - window) * d, n * d));
    }
    // without the option the same budget stores the window in the heads' formats: not exact
    const again = backend.createStore(geometry);
    const { observations: same } = await backend.forwardPass(model).prefill(tokens, again);
    const plain = await storeForBytes(backend, again, same, { bytes: { fraction: 1 / 3 }, options: { window } });
    const rounded = plain.plan.headFormats[0]!.findIndex((f) => f === 'int8' || f === 'int4');
    if (rounded >= 0) {
      const keys = await plain.store.keys(0, rounded);
      const kept = plain.plan.plan.layers[0]!.kept[rounded]!.length;
      const d = geometry.headDim;
      expect(keys.subarray((kept - window) * d, kept * d)).not.toEqual(exact[rounded]!.subarray((n - window) * d, n * d));
    }
    plain.store.dispose();
    // the generator decodes on from it
    const generator = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 3 }, options: { window }, fullPrecisionWindow: true } });
    const result = await generator.generate(prompt, { steps: 6 });
    expect(result.tokens).toHaveLength(6);
    expect(result.prefill!.bytePlan!.windowRows).toBe(window);
    generator.store.dispose();
    store.dispose();
  });
});
