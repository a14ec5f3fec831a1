import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CacheGeometry, attentionOutputL1, planCompression } from '../../src/index.js';
import { heldBytes, heldOutReference, keptOutputL1, planForBytes } from '../../src/quantization/index.js';
import { randomObservations } from '../compression/random-observations.js';
import { expectSmallestBudgetWorks } from './smallest-budget.js';

const setting = fc.record({
  layers: fc.integer({ min: 1, max: 2 }),
  kvHeads: fc.integer({ min: 1, max: 3 }),
  group: fc.integer({ min: 1, max: 2 }),
  headDim: fc.constantFrom(8, 16, 40, 9),
  n: fc.integer({ min: 4, max: 48 }),
  window: fc.integer({ min: 1, max: 8 }),
  blockSize: fc.constantFrom(1, 4, 8, 16),
  fraction: fc.double({ min: 0.02, max: 1.2, noNaN: true }),
  seed: fc.integer({ min: 1, max: 1 << 20 }),
});

function setUp(s: { layers: number; kvHeads: number; group: number; headDim: number; n: number; seed: number }) {
  const geometry: CacheGeometry = { layers: s.layers, queryHeads: s.kvHeads * s.group, kvHeads: s.kvHeads, headDim: s.headDim };
  return { geometry, observations: randomObservations(geometry, s.n, s.seed) };
}

const lengths = (plan: { layers: readonly { kept: readonly Int32Array[] }[] }) => plan.layers.flatMap((l) => l.kept.map((k) => k.length));

describe('planForBytes', () => {
  it('stays within the budget, keeps the window, is deterministic and picks the lowest predicted error', () => {
    fc.assert(
      fc.property(setting, (s) => {
        const { geometry, observations } = setUp(s);
        const input = { geometry, observations, bytes: { fraction: s.fraction }, options: { window: s.window }, blockSize: s.blockSize };
        let chosen;
        try {
          chosen = planForBytes(input);
        } catch (error) {
          const least = expectSmallestBudgetWorks(error, input);
          expect(least).toBeGreaterThan(Math.floor(s.fraction * s.layers * s.kvHeads * s.n * s.headDim * 8));
          return;
        }
        // bytes held: each head's whole blocks in its own format
        const perHead = chosen.plan.layers.flatMap((layer, l) => layer.kept.map((kept, h) => heldBytes(chosen.headFormats[l]![h]!, [kept.length], s.headDim, s.blockSize)));
        expect(perHead.reduce((a, b) => a + b, 0)).toBe(chosen.heldBytes);
        if (chosen.format !== 'mixed') expect(chosen.headFormats.flat().every((f) => f === chosen.format)).toBe(true);
        else expect(new Set(chosen.headFormats.flat()).size).toBeGreaterThan(1);
        expect(chosen.heldBytes).toBeLessThanOrEqual(chosen.bytes);
        const w = Math.min(s.window, s.n);
        for (const layer of chosen.plan.layers) {
          for (const kept of layer.kept) for (let t = s.n - w; t < s.n; t++) expect(kept).toContain(t);
        }
        const feasible = chosen.candidates.filter((c) => c.feasible);
        expect(chosen.candidates.find((c) => c.format === chosen.format)!.predictedError).toBe(Math.min(...feasible.map((c) => c.predictedError)));
        for (const c of feasible) expect(c.heldBytes).toBeLessThanOrEqual(chosen.bytes);
        if (s.headDim % 2 !== 0) expect(chosen.candidates.find((c) => c.format === 'int4')!.feasible).toBe(false);
        expect(planForBytes(input)).toEqual(chosen);
      }),
      { numRuns: 40, seed: 17 },
    );
  });

  it('keeps everything in f32 when the budget holds the full cache (error 0, ties to the higher precision)', () => {
    const { geometry, observations } = setUp({ layers: 2, kvHeads: 2, group: 2, headDim: 16, n: 32, seed: 3 });
    const chosen = planForBytes({ geometry, observations, bytes: { fraction: 1 }, options: { window: 4 } });
    expect(chosen.format).toBe('f32');
    expect(chosen.plan.achievedTotal).toBe(chosen.plan.originalTotal);
    expect(chosen.candidates[0]!.predictedError).toBe(0);
    expect(chosen.candidates.every((c) => c.tokensPerHead === 32)).toBe(true); // every format holds the prompt
    expect(chosen.candidates.slice(1).every((c) => c.predictedError > 0)).toBe(true);
  });

  it('trades eviction against precision: at 1/8 of the f32 cache a quantized format keeps more tokens per head', () => {
    const { geometry, observations } = setUp({ layers: 2, kvHeads: 2, group: 2, headDim: 32, n: 128, seed: 5 });
    const chosen = planForBytes({ geometry, observations, bytes: { fraction: 1 / 8 }, options: { window: 8 } });
    const f32 = chosen.candidates.find((c) => c.format === 'f32')!;
    const int4 = chosen.candidates.find((c) => c.format === 'int4')!;
    expect(int4.tokensPerHead).toBeGreaterThan(3 * f32.tokensPerHead);
    // 1/8 of 128 rows in f32 is one 16-row block per head; Ada-KV's uneven heads need a few tokens less to fit
    expect(f32.tokensPerHead).toBeLessThanOrEqual(16);
    expect(f32.tokensPerHead).toBeGreaterThanOrEqual(8);
  });

  it('refuses a budget below the window at int4 with a BudgetError naming the smallest that works', () => {
    const { geometry, observations } = setUp({ layers: 1, kvHeads: 2, group: 1, headDim: 16, n: 64, seed: 9 });
    const least = 2 * heldBytes('int4', [16], 16, 16);
    expect(() => planForBytes({ geometry, observations, bytes: least - 1, options: { window: 16 } })).toThrow(
      new RegExp(`smallest budget that works is ${least} bytes \\(${Number(((least / (2 * 64 * 16 * 8)) * 100).toPrecision(3))}% of this prompt's full f32 cache\\)`),
    );
    expect(planForBytes({ geometry, observations, bytes: least, options: { window: 16 } }).format).toBe('int4');
  });

  it('scores f32 eviction over the held-out queries: the window before the window, like attentionOutputL1 on the prompt cut there', () => {
    const { geometry, observations } = setUp({ layers: 2, kvHeads: 2, group: 2, headDim: 16, n: 40, seed: 11 });
    const w = 4;
    const plan = planCompression({ method: 'ada-snapkv', geometry, observations, budget: 12, options: { window: w } });
    const reference = heldOutReference(geometry, observations, w);
    expect(reference).toMatchObject({ n: 40, first: 32, count: 4 });
    const ours = keptOutputL1(reference, plan.layers.map((l) => l.kept), 'f32', 16);
    // the same queries as the window of the first n - w tokens, over the kept entries among them
    const cut = 40 - w;
    const rows = (a: Float32Array, perToken: number) => a.slice(0, cut * perToken);
    const { queryHeads, kvHeads, headDim } = geometry;
    const shorter = observations.map((o) => ({ queries: rows(o.queries, queryHeads * headDim), keys: rows(o.keys, kvHeads * headDim), values: rows(o.values, kvHeads * headDim) }));
    const shorterPlan = { ...plan, layers: plan.layers.map((l) => ({ ...l, kept: l.kept.map((k) => k.filter((t) => t < cut)) })) };
    const theirs = attentionOutputL1(geometry, shorter, shorterPlan).mean;
    expect(ours).toBeGreaterThan(0);
    expect(Math.abs(ours - theirs)).toBeLessThan(1e-5 * Math.max(1, theirs));
  });

  it("plans a joint method (kvcompress) in the store's whole blocks: every head keeps whole blocks, the sequence within its budget", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.constantFrom(4, 8, 16), fc.integer({ min: 2, max: 5 }), (seed, blockSize, blocks) => {
        const { geometry, observations } = setUp({ layers: 2, kvHeads: 3, group: 1, headDim: 8, n: 6 * blockSize, seed });
        const budget = blocks * blockSize;
        const plan = planCompression({ method: 'kvcompress', geometry, observations, budget, blockSize, options: { window: blockSize } });
        const kept = lengths(plan);
        expect(kept.every((k) => k % blockSize === 0)).toBe(true);
        expect(kept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(6 * budget);
      }),
      { numRuns: 30 },
    );
  });

  it('has no held-out queries for a prompt no longer than the window: every candidate scores 0, the highest precision that fits wins', () => {
    const { geometry, observations } = setUp({ layers: 1, kvHeads: 2, group: 1, headDim: 16, n: 6, seed: 5 });
    expect(heldOutReference(geometry, observations, 8)).toMatchObject({ first: 0, count: 0 });
    const chosen = planForBytes({ geometry, observations, bytes: 2 * heldBytes('f32', [6], 16, 16), options: { window: 8 } });
    expect(chosen.format).toBe('f32');
    expect(chosen.candidates.every((c) => c.predictedError === 0)).toBe(true);
  });
});
