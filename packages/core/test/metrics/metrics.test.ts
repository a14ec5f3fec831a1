import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  type CompressionPlan,
  type LayerObservation,
  OptionError,
  ShapeError,
  attentionOutputL1,
  concentration,
  kvBytes,
  planCompression,
  planKvBytes,
  retainedMass,
} from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { tokenSegments } from '../../src/node/index.js';
import { Transformer, ReferenceStore, cacheGeometry } from '../../src/index.js';
import { randomObservations } from '../compression/random-observations.js';
import { stories15m } from '../model/stories15m.js';

/** One head, d = 1, q = 1: the window query (position 3) attends 0.1, 0.2, 0.3, 0.4; values are 0, 1, 2, 3. */
const tinyGeometry: CacheGeometry = { layers: 1, queryHeads: 1, kvHeads: 1, headDim: 1 };
const tiny: LayerObservation[] = [
  { queries: Float32Array.of(1, 1, 1, 1), keys: Float32Array.from([1, 2, 3, 4], Math.log), values: Float32Array.of(0, 1, 2, 3) },
];
const keep = (kept: number[][][], window = 1): CompressionPlan => ({
  method: 'hand',
  budget: 0,
  window,
  layers: kept.map((heads) => ({ kept: heads.map((k) => Int32Array.from(k)), budgetPerHead: Int32Array.from(heads, (k) => k.length) })),
  requestedTotal: 0,
  achievedTotal: 0,
  originalTotal: 0,
});

describe('metrics, checked by hand', () => {
  it('retained mass and attention-output L1', () => {
    const plan = keep([[[1, 3]]]);
    expect(retainedMass(tinyGeometry, tiny, plan).mean).toBeCloseTo(0.6, 6);
    // full output 0.2 + 0.6 + 1.2 = 2; kept (0.2 + 1.2) / 0.6 = 7/3
    expect(attentionOutputL1(tinyGeometry, tiny, plan).mean).toBeCloseTo(1 / 3, 5);
    expect(retainedMass(tinyGeometry, tiny, keep([[[0, 1, 2, 3]]])).mean).toBeCloseTo(1, 6);
    expect(attentionOutputL1(tinyGeometry, tiny, keep([[[0, 1, 2, 3]]])).mean).toBeCloseTo(0, 6);
  });

  it('concentration curve and the cache share for 90% of the mass', () => {
    const [[head]] = concentration(tinyGeometry, tiny, 1).heads as [[{ massAt: Float32Array; fractionForTarget: number }]];
    expect(Array.from(head.massAt).map((m) => Number(m.toFixed(5)))).toEqual([0.4, 0.7, 0.9, 1]);
    expect(head.fractionForTarget).toBe(0.75);
  });

  it('bytes of K and V, and of a plan against the full cache', () => {
    expect(kvBytes(10, 48)).toBe(10 * 48 * 2 * 4);
    expect(kvBytes(10, 48, 2)).toBe(10 * 48 * 2 * 2);
    const plan = { ...keep([[[1, 3]]]), achievedTotal: 2, originalTotal: 4 };
    expect(planKvBytes(plan, 48)).toEqual({ kept: 2 * 48 * 8, full: 4 * 48 * 8, ratio: 0.5 });
    expect(() => kvBytes(-1, 48)).toThrow(OptionError);
    expect(() => kvBytes(10, 0)).toThrow(OptionError);
    expect(() => kvBytes(10, 48, 1.5)).toThrow(OptionError);
  });

  it('refuses a plan made for other observations', () => {
    expect(() => retainedMass(tinyGeometry, tiny, keep([[[0, 9]]]))).toThrow(ShapeError);
    expect(() => attentionOutputL1(tinyGeometry, tiny, keep([[[0], [1]]]))).toThrow(ShapeError);
    expect(() => retainedMass(tinyGeometry, tiny, keep([[[0]], [[0]]]))).toThrow(ShapeError); // two layers for one
    // a repeated or unsorted index would count attention twice
    expect(() => retainedMass(tinyGeometry, tiny, keep([[[3, 3]]]))).toThrow(/strictly ascending/);
    expect(() => retainedMass(tinyGeometry, tiny, keep([[[2, 1]]]))).toThrow(ShapeError);
  });

  it('refuses observations that do not match the geometry, and empty windows', () => {
    expect(() => retainedMass(tinyGeometry, [], keep([]))).toThrow(ShapeError);
    expect(() => concentration({ ...tinyGeometry, layers: 2 }, tiny, 1)).toThrow(/one observation per layer/);
    expect(() => concentration({ ...tinyGeometry, headDim: 3 }, tiny, 1)).toThrow(ShapeError);
    expect(() => retainedMass(tinyGeometry, tiny, keep([[[1]]], 0))).toThrow(OptionError);
    expect(() => concentration(tinyGeometry, tiny, 0)).toThrow(OptionError);
    expect(() => concentration(tinyGeometry, tiny, 1.5)).toThrow(OptionError);
    expect(() => concentration(tinyGeometry, tiny, 1, 0)).toThrow(/target mass/);
    expect(() => concentration(tinyGeometry, tiny, 1, 1.2)).toThrow(OptionError);
  });
});

describe('metric properties', { timeout: 60_000 }, () => {
  it('mass lies in [0, 1] and grows as entries are kept; L1 is 0 when all are kept', () => {
    const geometry = { layers: 1, queryHeads: 4, kvHeads: 2, headDim: 4 };
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 20 }), fc.integer(), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }), (n, seed, mask) => {
        const observations = randomObservations(geometry, n, seed);
        const some = Array.from({ length: n }, (_, t) => t).filter((t) => mask[t]);
        const more = Array.from({ length: n }, (_, t) => t).filter((t) => mask[t] || t % 2 === 0);
        const all = Array.from({ length: n }, (_, t) => t);
        const window = 2;
        const a = retainedMass(geometry, observations, keep([[some, some]], window)).mean;
        const b = retainedMass(geometry, observations, keep([[more, more]], window)).mean;
        expect(a).toBeGreaterThanOrEqual(0);
        expect(b).toBeGreaterThanOrEqual(a - 1e-9);
        expect(retainedMass(geometry, observations, keep([[all, all]], window)).mean).toBeCloseTo(1, 5);
        expect(attentionOutputL1(geometry, observations, keep([[all, all]], window)).mean).toBeCloseTo(0, 5);
      }),
      { numRuns: 60 },
    );
  });

  it("the output loss stays within the paper's bound: L1 <= 2 (1 - retained mass) max_t ||v_t||_1 per head", () => {
    const geometry = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4 };
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 24 }), fc.integer(), fc.integer({ min: 1, max: 6 }), fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), (n, seed, window, mask) => {
        const observations = randomObservations(geometry, n, seed);
        const kept = Array.from({ length: n }, (_, t) => t).filter((t) => mask[t]);
        const plan = keep([[kept, kept.slice(1)], [kept.slice(0, 2), kept]], window);
        const mass = retainedMass(geometry, observations, plan);
        const l1 = attentionOutputL1(geometry, observations, plan);
        observations.forEach((o, layer) => {
          for (let head = 0; head < geometry.kvHeads; head++) {
            let largest = 0;
            for (let t = 0; t < n; t++) {
              let norm = 0;
              for (let i = 0; i < geometry.headDim; i++) norm += Math.abs(o.values[(t * geometry.kvHeads + head) * geometry.headDim + i]!);
              largest = Math.max(largest, norm);
            }
            const retained = mass.perHead[layer]![head]!;
            expect(retained).toBeGreaterThanOrEqual(-1e-9);
            expect(retained).toBeLessThanOrEqual(1 + 1e-6);
            expect(l1.perHead[layer]![head]!).toBeLessThanOrEqual(2 * (1 - retained) * largest + 1e-4);
          }
        });
      }),
      { numRuns: 60 },
    );
  });

  it('concentration curves rise to 1 and the 90% share is where they first reach 0.9', () => {
    const geometry = { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 4 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer(), fc.integer({ min: 1, max: 40 }), (n, seed, window) => {
        const [[head]] = concentration(geometry, randomObservations(geometry, n, seed), window).heads as [[{ massAt: Float32Array; fractionForTarget: number }]];
        expect(head.massAt).toHaveLength(n);
        head.massAt.forEach((m, k) => k > 0 && expect(m).toBeGreaterThanOrEqual(head.massAt[k - 1]! - 1e-6));
        expect(head.massAt[n - 1]!).toBeCloseTo(1, 5);
        const reached = Math.round(head.fractionForTarget * n);
        expect(head.massAt[reached - 1]!).toBeGreaterThanOrEqual(0.9 - 1e-6);
        if (reached > 1) expect(head.massAt[reached - 2]!).toBeLessThan(0.9 + 1e-6); // f32 curve, f64 running sum
      }),
      { numRuns: 60 },
    );
  });
});

describe('the Ada-KV claim on stories15M and real text', { timeout: 60_000 }, () => {
  it('adaptive allocation keeps at least the attention mass of the uniform split, and loses less output', async () => {
    const model = stories15m();
    const geometry = cacheGeometry(model.config);
    const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 3, length: 160 });
    const totals = { snapkv: { mass: 0, l1: 0 }, 'ada-snapkv': { mass: 0, l1: 0 } };
    for (const tokens of segments) {
      const { observations } = await new Transformer(model).prefill(tokens, new ReferenceStore(geometry));
      for (const method of ['snapkv', 'ada-snapkv'] as const) {
        for (const budget of [24, 48]) {
          const plan = planCompression({ method, geometry, observations, budget, options: { window: 16 } });
          totals[method].mass += retainedMass(geometry, observations, plan).mean;
          totals[method].l1 += attentionOutputL1(geometry, observations, plan).mean;
        }
      }
    }
    expect(totals['ada-snapkv'].mass).toBeGreaterThan(totals.snapkv.mass);
    expect(totals['ada-snapkv'].l1).toBeLessThan(totals.snapkv.l1);
  });
});
