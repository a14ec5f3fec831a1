import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  type CompressionPlan,
  type LayerObservation,
  ShapeError,
  attentionOutputL1,
  concentration,
  kvBytes,
  planCompression,
  retainedMass,
} from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText, tokenSegments } from '../../src/node/index.js';
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

  it('bytes of K and V', () => {
    expect(kvBytes(10, 48)).toBe(10 * 48 * 2 * 4);
    expect(kvBytes(10, 48, 2)).toBe(10 * 48 * 2 * 2);
  });

  it('refuses a plan made for other observations', () => {
    expect(() => retainedMass(tinyGeometry, tiny, keep([[[0, 9]]]))).toThrow(ShapeError);
    expect(() => attentionOutputL1(tinyGeometry, tiny, keep([[[0], [1]]]))).toThrow(ShapeError);
  });
});

describe('metric properties', () => {
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
});

describe('the Ada-KV claim on stories15M and real text', () => {
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
