import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveAllocation, pyramidLayerBudgets, pyramidSchedule, roundHalfEven, uniformAllocation } from '../../src/index.js';
import { countTopAcrossHeads, topKIndices } from '../../src/allocation/top-k.js';

describe('roundHalfEven', () => {
  it('rounds ties to even like torch.round', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 0, 7].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3, 0, 7]);
  });
});

describe('top-k selection', () => {
  it('keeps the best entries in index order, ties to the lower index', () => {
    expect(Array.from(topKIndices(Float32Array.of(0.1, 0.9, 0.5, 0.9, Infinity), 3))).toEqual([1, 3, 4]);
    expect(Array.from(topKIndices(Float32Array.of(1, 1, 1, 1), 2))).toEqual([0, 1]);
    expect(Array.from(topKIndices(Float32Array.of(1, 2), 5))).toEqual([0, 1]);
  });

  it('breaks ties across heads toward the lower head, then the lower index', () => {
    const scores = [Float32Array.of(0.5, 0.5), Float32Array.of(0.5, 0.9)];
    expect(Array.from(countTopAcrossHeads(scores, 2))).toEqual([1, 1]); // 0.9 (head 1), then 0.5 of head 0
    expect(Array.from(countTopAcrossHeads(scores, 3))).toEqual([2, 1]);
  });
});

describe('Ada-KV allocation, checked by hand', () => {
  // Head 0 is concentrated on the four best scores of the layer; head 1 has only weak ones.
  const scores = [Float32Array.of(0.9, 0.8, 0.7, 0.6, 0.01), Float32Array.of(0.1, 0.05, 0.02, 0.01, 0.005)];

  it('gives the concentrated head more, keeping a floor for the other', () => {
    // B' = 2: top 4 of the layer are all head 0, c = [4, 0]; floor(2 * 0.5) = 1;
    // cap = [roundHalfEven(4 * 0.5 + 1), roundHalfEven(0 + 1)] = [3, 1].
    expect(Array.from(adaptiveAllocation(scores, 2, 0.5))).toEqual([3, 1]);
    // alpha = 0.2: floor(0.4) = 0; cap = [roundHalfEven(3.2), 0] = [3, 0]; the total misses 4 by rounding, as in the reference.
    expect(Array.from(adaptiveAllocation(scores, 2, 0.2))).toEqual([3, 0]);
    // alpha = 0 is the pure flattened top-k.
    expect(Array.from(adaptiveAllocation(scores, 2, 0))).toEqual([4, 0]);
  });

  it('reduces to uniform allocation exactly when alpha = 1', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float32Array({ minLength: 6, maxLength: 6, noNaN: true }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 6 }),
        (rows, selectable) => {
          expect(adaptiveAllocation(rows, selectable, 1)).toEqual(uniformAllocation(rows, selectable));
        },
      ),
    );
  });

  it('keeps each head at or above its floor and near the layer total', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float32Array({ minLength: 12, maxLength: 12, noNaN: true }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 11 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (rows, selectable, alpha) => {
          const caps = adaptiveAllocation(rows, selectable, alpha);
          const floor = Math.floor(selectable * alpha);
          for (const cap of caps) expect(cap).toBeGreaterThanOrEqual(floor);
          const total = caps.reduce((a, b) => a + b, 0);
          expect(Math.abs(total - rows.length * selectable)).toBeLessThanOrEqual(1.5 * rows.length);
        },
      ),
    );
  });
});

describe('PyramidKV layer budgets', () => {
  it('matches the reference formula', () => {
    // B' = 16, 6 layers, Lp = 176: min = 0, max = 32, steps = 6.
    expect(Array.from(pyramidLayerBudgets(16, 6, 176, 20))).toEqual([32, 26, 20, 14, 8, 2]);
    // Fallback when max >= Lp: B' = 100, Lp = 150: max = 150, min = 50, steps = 20.
    expect(Array.from(pyramidLayerBudgets(100, 6, 150, 20))).toEqual([150, 130, 110, 90, 70, 50]);
    expect(Array.from(pyramidLayerBudgets(40, 1, 100, 20))).toEqual([40]);
    expect(pyramidSchedule).toBe(pyramidLayerBudgets); // the old name, kept as an alias
  });

  it('keeps the average near B\' and decreases with depth', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 2, max: 40 }), (selectable, layers) => {
        const schedule = pyramidLayerBudgets(selectable, layers, 10_000, 20);
        for (let l = 1; l < layers; l++) expect(schedule[l]!).toBeLessThanOrEqual(schedule[l - 1]!);
        const mean = schedule.reduce((a, b) => a + b, 0) / layers;
        expect(Math.abs(mean - selectable)).toBeLessThanOrEqual(layers / 2 + 1);
      }),
    );
  });
});

describe('the issue\'s hand-checked case', () => {
  it('scores [[3,4,5,9999],[1,1,1,9998]], 2 selectable per head, alpha 0: keep 3 and 1, the window on top', async () => {
    const { planLayer } = await import('../../src/allocation/plan-layer.js');
    const { adaptive, getMethod, resolveMethodOptions } = await import('../../src/index.js');
    const rows = [Float32Array.of(3, 4, 5, 9999), Float32Array.of(1, 1, 1, 9998)];
    expect(Array.from(adaptiveAllocation(rows, 2, 0))).toEqual([3, 1]);
    // the same through a whole layer plan, with a scorer that returns these scores and a window of 2
    const scorer = { name: 'given', score: (_: unknown, __: unknown) => rows.shift()! };
    const method = adaptive({ ...getMethod('snapkv'), name: 'given', scorer });
    const head = { keys: new Float32Array(6), positions: Int32Array.of(0, 1, 2, 3, 4, 5), queries: new Float32Array(1), queryPositions: Int32Array.of(5), headDim: 1, groupSize: 1, protectedCount: 2 };
    const plan = planLayer(method, resolveMethodOptions(method, { alpha: 0 }), [head, head], 2);
    expect(plan.kept.map((k) => Array.from(k))).toEqual([[1, 2, 3, 4, 5], [3, 4, 5]]);
  });
});
