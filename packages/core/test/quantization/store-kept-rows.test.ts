import { describe, expect, it } from 'vitest';
import { type CacheGeometry, WasmBackend, applyPlan, planCompression } from '../../src/index.js';
import { heldBytes, quantizeHeadRows, storeKeptRows } from '../../src/quantization/index.js';
import { randomObservations } from '../compression/random-observations.js';

const geometry: CacheGeometry = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 32 };
const n = 40;
const observations = randomObservations(geometry, n, 21);
const plan = planCompression({ method: 'ada-snapkv', geometry, observations, budget: 14, options: { window: 4 } });
const headRows = (layer: number) =>
  Array.from({ length: geometry.kvHeads }, (_, h) => {
    const pick = (all: Float32Array) => {
      const out = new Float32Array(n * 32);
      for (let t = 0; t < n; t++) out.set(all.subarray((t * 2 + h) * 32, (t * 2 + h + 1) * 32), t * 32);
      return out;
    };
    return { keys: pick(observations[layer]!.keys), values: pick(observations[layer]!.values) };
  });
const gather = (rows: Float32Array, kept: Int32Array) => {
  const out = new Float32Array(kept.length * 32);
  kept.forEach((t, r) => out.set(rows.subarray(t * 32, (t + 1) * 32), r * 32));
  return out;
};

describe('storeKeptRows', async () => {
  const backend = await WasmBackend.create({ blockSize: 8 });

  it('in f32 holds what appending everything and applying the plan holds', async () => {
    const direct = backend.createStore(geometry);
    const viaPlan = backend.createStore(geometry);
    try {
      plan.layers.forEach((l, layer) => storeKeptRows(direct, layer, headRows(layer), l.kept, 8));
      observations.forEach((o, layer) => viaPlan.append(layer, o.keys, o.values, Int32Array.from({ length: n }, (_, t) => t)));
      applyPlan(viaPlan, plan);
      expect(new Set(plan.layers.flatMap((l) => l.kept.map((k) => k.length))).size).toBeGreaterThan(1); // uneven heads
      for (let layer = 0; layer < 2; layer++) {
        for (let h = 0; h < 2; h++) {
          expect(await direct.keys(layer, h)).toEqual(await viaPlan.keys(layer, h));
          expect(await direct.values(layer, h)).toEqual(await viaPlan.values(layer, h));
        }
      }
      expect(direct.bytes()).toBe(viaPlan.bytes());
    } finally {
      direct.dispose();
      viaPlan.dispose();
    }
  });

  it.each(['int8', 'int4'] as const)('in %s encodes each block once over its kept rows and holds whole blocks', async (format) => {
    const store = backend.createStore(geometry, { kvFormat: format });
    try {
      plan.layers.forEach((l, layer) => storeKeptRows(store, layer, headRows(layer), l.kept, 8));
      for (let layer = 0; layer < 2; layer++) {
        for (let h = 0; h < 2; h++) {
          const kept = plan.layers[layer]!.kept[h]!;
          const rows = headRows(layer)[h]!;
          const want = quantizeHeadRows(format, gather(rows.keys, kept), gather(rows.values, kept), 32, 8, { lastBlock: 'encoded' });
          const got = [await store.keys(layer, h), await store.values(layer, h)] as const;
          [want.keys, want.values].forEach((expected, i) => {
            let worst = 0;
            for (let j = 0; j < expected.length; j++) worst = Math.max(worst, Math.abs(got[i]![j]! - expected[j]!));
            expect(worst).toBeLessThan(1e-6);
          });
        }
      }
      expect(store.bytes()).toBe(heldBytes(format, plan.layers.flatMap((l) => l.kept.map((k) => k.length)), 32, 8));
      // every head's rows carry its own kept tokens' positions
      plan.layers.forEach((l, layer) => l.kept.forEach((k, h) => expect(Array.from(store.positions(layer, h))).toEqual(Array.from(k))));
    } finally {
      store.dispose();
    }
  });
});
