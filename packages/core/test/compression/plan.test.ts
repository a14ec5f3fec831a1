import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BudgetError,
  type CacheGeometry,
  type CompressionPlan,
  InvalidNumberError,
  type LayerObservation,
  type Method,
  OptionError,
  ReferenceBackend,
  ReferenceStore,
  WasmBackend,
  ShapeError,
  UnknownMethodError,
  adaptive,
  applyPlan,
  retainedMass,
  compress,
  getMethod,
  listMethods,
  methodNames,
  headOutputProjection,
  observationHeadContext,
  observationHeadValues,
  planCompression,
  pyramidLayerBudgets,
  DEFAULT_METHOD_OPTIONS,
} from '../../src/index.js';
import { resolveMethodOptions } from '../../src/methods/options.js';
import { randomObservations, randomOutputProjection } from './random-observations.js';

const MHA: CacheGeometry = { layers: 3, queryHeads: 4, kvHeads: 4, headDim: 8 };
const GQA: CacheGeometry = { layers: 3, queryHeads: 8, kvHeads: 2, headDim: 8 };
const window = 4;

function keptIn(plan: CompressionPlan, layer: number, head: number): number[] {
  return Array.from(plan.layers[layer]!.kept[head]!);
}

describe.each([
  ['MHA', MHA],
  ['GQA', GQA],
])('every registered method on %s', (_, geometry) => {
  const n = 40;
  const observations = randomObservations(geometry, n, 11);
  const outputProjection = randomOutputProjection(geometry, 24, 5);

  it.each(methodNames)('%s keeps the window, ascending in-range indices, and its budget', (name) => {
    const budget = 12;
    const plan = planCompression({ method: name, geometry, observations, budget, options: { window }, outputProjection });
    const method = getMethod(name);
    expect(plan.originalTotal).toBe(geometry.layers * geometry.kvHeads * n);
    plan.layers.forEach((layer, l) => {
      layer.kept.forEach((kept, h) => {
        for (let i = 1; i < kept.length; i++) expect(kept[i]!).toBeGreaterThan(kept[i - 1]!);
        expect(kept[0]!).toBeGreaterThanOrEqual(0);
        expect(kept[kept.length - 1]).toBe(n - 1);
        for (let t = n - window; t < n; t++) expect(kept).toContain(t);
        expect(layer.budgetPerHead[h]).toBe(kept.length);
      });
      if (method.scorer === null) expect(layer.kept.every((k) => k.length === n)).toBe(true);
      else if (method.allocation === 'uniform' && method.schedule === 'uniform') {
        expect(layer.kept.every((k) => k.length === budget)).toBe(true);
      }
      void l;
    });
    if (method.allocation === 'uniform') expect(plan.achievedTotal).toBe(plan.requestedTotal);
    else expect(Math.abs(plan.achievedTotal - plan.requestedTotal)).toBeLessThanOrEqual(1.5 * geometry.kvHeads * geometry.layers);
  });

  it.each(methodNames)('%s evicts nothing when the budget covers the prompt', (name) => {
    const plan = planCompression({ method: name, geometry, observations, budget: n, options: { window }, outputProjection });
    expect(plan.achievedTotal).toBe(plan.originalTotal);
    expect(planCompression({ method: name, geometry, observations, budget: { ratio: 1 }, options: { window }, outputProjection }).achievedTotal).toBe(
      plan.originalTotal,
    );
  });

  it('streamingllm keeps the sinks and the most recent tokens', () => {
    const plan = planCompression({ method: 'streamingllm', geometry, observations, budget: 10, options: { window, sinks: 2 } });
    expect(keptIn(plan, 1, 0)).toEqual([0, 1, 32, 33, 34, 35, 36, 37, 38, 39]);
  });

  it('pyramidkv gives layer l the schedule\'s budget per head', () => {
    const plan = planCompression({ method: 'pyramidkv', geometry, observations, budget: 12, options: { window } });
    const schedule = pyramidLayerBudgets(12 - window, geometry.layers, n - window, 20);
    plan.layers.forEach((layer, l) => expect(layer.kept.every((k) => k.length === schedule[l]! + window)).toBe(true));
  });

  it('ada-snapkv with alpha = 1 keeps exactly what snapkv keeps', () => {
    const uniform = planCompression({ method: 'snapkv', geometry, observations, budget: 12, options: { window } });
    const ada = planCompression({ method: 'ada-snapkv', geometry, observations, budget: 12, options: { window, alpha: 1 } });
    expect(ada.layers).toEqual(uniform.layers);
  });
});

describe('planning properties', () => {
  const geometries = fc.record({
    layers: fc.integer({ min: 1, max: 3 }),
    kvHeads: fc.integer({ min: 1, max: 4 }),
    group: fc.integer({ min: 1, max: 3 }),
    headDim: fc.integer({ min: 1, max: 8 }),
  });

  it('keeps the top-scored entries of every head, each head at least its floor, for every method', () => {
    fc.assert(
      fc.property(
        geometries,
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(...methodNames),
        fc.integer(),
        ({ layers, kvHeads, group, headDim }, n, budget, windowSize, name, seed) => {
          const geometry = { layers, kvHeads, queryHeads: kvHeads * group, headDim };
          const observations = randomObservations(geometry, n, seed);
          const outputProjection = randomOutputProjection(geometry, 8, seed);
          const method: Method = getMethod(name);
          const w = Math.min(windowSize, n);
          // a token budget below the window is refused whatever the prompt length
          if (method.scorer !== null && budget < windowSize) {
            expect(() => planCompression({ method, geometry, observations, budget, options: { window: windowSize }, outputProjection })).toThrow(BudgetError);
            return;
          }
          const plan = planCompression({ method, geometry, observations, budget, options: { window: windowSize }, outputProjection });
          // a prompt no longer than the window: nothing to score, everything kept, and the plan says why
          const short = method.scorer !== null && n <= windowSize;
          expect(plan.skipped !== undefined).toBe(short);
          if (short) {
            expect(plan.achievedTotal).toBe(plan.originalTotal);
            expect(plan.layers.every((layer) => layer.kept.every((kept) => kept.length === n))).toBe(true);
            return;
          }
          const options = resolveMethodOptions(method, { window: windowSize });
          const floor = Math.floor((budget - w) * options.alpha);
          plan.layers.forEach((layer, l) => {
            layer.kept.forEach((kept, h) => {
              const keptSet = new Set(kept);
              for (let t = n - w; t < n; t++) expect(keptSet.has(t)).toBe(true);
              if (method.scorer === null || kept.length === n) return;
              if (method.allocation === 'adaptive' && method.schedule === 'uniform') {
                expect(kept.length - w).toBeGreaterThanOrEqual(Math.min(floor, n - w));
              }
              // the scorer's view as the planner builds it; a second stage (CriticalKV) picks by its own scores
              const context = {
                ...observationHeadContext(geometry, observations[l]!, h, w),
                layer: l,
                values: observationHeadValues(geometry, observations[l]!, h),
                outputProjection: headOutputProjection(geometry, outputProjection(l), h),
              };
              const base = method.scorer.score(context, options);
              const scores = method.scorer.rescore ? method.scorer.rescore(context, base, kept.length - w, options) : base;
              const keptScores = [...keptSet].filter((t) => t < n - w).map((t) => scores[t]!);
              const evicted = Array.from(scores).filter((_, t) => t < n - w && !keptSet.has(t));
              if (keptScores.length && evicted.length) {
                expect(Math.min(...keptScores)).toBeGreaterThanOrEqual(Math.max(...evicted));
              }
            });
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the flattened top-k (alpha = 0, no pooling) retains at least the score mass of the uniform split', () => {
    fc.assert(
      fc.property(fc.integer({ min: 12, max: 40 }), fc.integer({ min: 5, max: 12 }), fc.integer(), (n, budget, seed) => {
        const geometry = GQA;
        const observations = randomObservations(geometry, n, seed);
        const options = { window, kernelSize: 1, alpha: 0 };
        const mass = (plan: CompressionPlan) =>
          plan.layers.reduce(
            (sum, layer, l) =>
              sum +
              layer.kept.reduce((s, kept, h) => {
                const scores = getMethod('snapkv').scorer!.score(
                  observationHeadContext(geometry, observations[l]!, h, window),
                  resolveMethodOptions(getMethod('snapkv'), options),
                );
                return s + Array.from(kept).reduce((acc, t) => acc + (t < n - window ? scores[t]! : 0), 0);
              }, 0),
            0,
          );
        const uniform = planCompression({ method: 'snapkv', geometry, observations, budget, options });
        const ada = planCompression({ method: 'ada-snapkv', geometry, observations, budget, options });
        expect(ada.achievedTotal).toBe(uniform.achievedTotal);
        expect(mass(ada)).toBeGreaterThanOrEqual(mass(uniform) - 1e-5);
      }),
      { numRuns: 60 },
    );
  });
});

describe('the Ada-KV claim on structured random inputs (some heads concentrated, some diffuse)', () => {
  const geometry = { layers: 4, queryHeads: 8, kvHeads: 4, headDim: 16 };

  it('retains at least the attention mass of the uniform split in every layer (no pooling, alpha 0)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const observations = randomObservations(geometry, 96, seed);
      for (const budget of [12, 24, 48]) {
        const options = { window: 8, kernelSize: 1, alpha: 0 };
        const uniform = retainedMass(geometry, observations, planCompression({ method: 'snapkv', geometry, observations, budget, options }));
        const ada = retainedMass(geometry, observations, planCompression({ method: 'ada-snapkv', geometry, observations, budget, options }));
        ada.perLayer.forEach((mass, layer) => expect(mass).toBeGreaterThanOrEqual(uniform.perLayer[layer]! - 1e-9));
      }
    }
  });

  // The attention-output L1 half of the claim is tested on stories15M and real text
  // (test/metrics/metrics.test.ts): on these synthetic heads Ada keeps more mass, yet its L1 is not
  // lower, because the loss also depends on how the evicted values differ from the kept ones.

  it('is deterministic', () => {
    const observations = randomObservations(geometry, 64, 9);
    const plan = () => planCompression({ method: 'ada-pyramidkv', geometry, observations, budget: 20, options: { window: 8 } });
    expect(plan()).toEqual(plan());
  });
});

describe('the registry', () => {
  it('lists every method with its paper and the documented defaults', () => {
    expect(methodNames).toEqual([
      'full',
      'streamingllm',
      'h2o',
      'snapkv',
      'pyramidkv',
      'ada-snapkv',
      'ada-pyramidkv',
      'kvcompress',
      'criti-snapkv',
      'ada-criti-snapkv',
      'random',
    ]);
    const documented = {
      window: 32,
      kernelSize: 7,
      pooling: 'max',
      groupReduce: 'mean',
      alpha: 0.2,
      beta: 20,
      sinks: 4,
      blockSize: 1,
      maxEvictPerStep: 0,
      epsilon: 1e-4,
      firstStageRatio: 0.5,
      seed: 0,
    };
    expect(DEFAULT_METHOD_OPTIONS).toEqual(documented);
    for (const method of listMethods()) {
      expect(method.paper).toMatch(/arXiv \d{4}\.\d{5}/);
      // each method's defaults are the documented ones, for the options it reads
      expect(documented).toMatchObject(method.defaults);
    }
    expect(getMethod('ada-pyramidkv')).toMatchObject({ allocation: 'adaptive', schedule: 'pyramid' });
    expect(getMethod('kvcompress')).toMatchObject({ allocation: 'joint', decodeScores: 'cumulative' });
    expect(getMethod('random')).toMatchObject({ allocation: 'joint' });
    expect(getMethod('h2o')).toMatchObject({ allocation: 'uniform', decodeScores: 'cumulative' });
    expect(getMethod('ada-criti-snapkv')).toMatchObject({ allocation: 'adaptive', scorer: getMethod('criti-snapkv').scorer });
  });

  it('wraps any scorer in Ada-KV', () => {
    const adaH2o = adaptive(getMethod('h2o'));
    expect(adaH2o).toMatchObject({ name: 'ada-h2o', allocation: 'adaptive', scorer: getMethod('h2o').scorer });
    expect(adaptive(getMethod('full'))).toBe(getMethod('full'));
  });
});

describe('bad input', () => {
  const geometry = MHA;
  const observations = randomObservations(geometry, 20, 3);
  const plan = (overrides: object) => () =>
    planCompression({ method: 'ada-snapkv', geometry, observations, budget: 8, options: { window }, ...overrides });

  it('refuses unknown methods, bad budgets and bad options with typed errors', () => {
    expect(plan({ method: 'snapkvv' })).toThrow(UnknownMethodError);
    expect(plan({ method: 'snapkvv' })).toThrow(/Known methods: full, streamingllm/);
    expect(plan({ budget: 0 })).toThrow(BudgetError);
    expect(plan({ budget: { ratio: 2 } })).toThrow(BudgetError);
    expect(plan({ budget: 3 })).toThrow(/cannot hold the observation window of 4/);
    expect(plan({ options: { alpha: 1.5 } })).toThrow(OptionError);
    expect(plan({ options: { kernelSize: 4 } })).toThrow(OptionError);
    expect(plan({ options: { window: 0 } })).toThrow(OptionError);
    expect(plan({ options: { windw: 8 } })).toThrow(/Unknown option "windw"/);
  });

  it('refuses a scorer that returns NaN or Infinity', () => {
    for (const bad of [Number.NaN, Infinity]) {
      const broken = { ...getMethod('snapkv'), scorer: { name: 'broken', score: () => new Float32Array(16).fill(bad) } };
      expect(plan({ method: broken })).toThrow(InvalidNumberError);
    }
  });

  it('refuses observations that do not fit the geometry or hold NaN', () => {
    expect(plan({ observations: observations.slice(1) })).toThrow(ShapeError);
    const short: LayerObservation = { ...observations[1]!, keys: observations[1]!.keys.subarray(8) };
    expect(plan({ observations: [observations[0], short, observations[2]] })).toThrow(ShapeError);
    const poisoned = observations.map((o) => ({ ...o, queries: o.queries.slice() }));
    poisoned[2]!.queries[5] = Number.NaN;
    expect(plan({ observations: poisoned })).toThrow(InvalidNumberError);
    expect(plan({ geometry: { ...geometry, kvHeads: 3 } })).toThrow(ShapeError);
  });

  it('refuses a plan for another geometry and leaves the store untouched', () => {
    const store = new ReferenceStore({ ...geometry, layers: 2 });
    const p = planCompression({ method: 'snapkv', geometry, observations, budget: 8, options: { window } });
    expect(() => applyPlan(store, p)).toThrow(ShapeError);
  });
});

describe('a prompt no longer than the observation window', () => {
  const geometry = GQA;
  const n = 5;
  const observations = randomObservations(geometry, n, 11);
  const short = (budget: number | { ratio: number }, name: string = 'ada-snapkv') =>
    planCompression({ method: name as 'ada-snapkv', geometry, observations, budget, options: { window: 16 } });

  it('is a keep-everything plan that says why, for every scoring method, not an error', () => {
    for (const name of methodNames.filter((m) => m !== 'full')) {
      const plan = short(48, name);
      expect(plan.skipped).toBe('the prompt (5 tokens) is not longer than the observation window (16)');
      expect(plan).toMatchObject({ method: name, budget: 48, window: n, achievedTotal: 3 * 2 * n, requestedTotal: 3 * 2 * n, originalTotal: 3 * 2 * n });
      for (const layer of plan.layers) {
        expect(Array.from(layer.budgetPerHead)).toEqual([n, n]);
        for (const kept of layer.kept) expect(Array.from(kept)).toEqual([0, 1, 2, 3, 4]);
      }
    }
    // full never scores: its plan is the ordinary keep-everything plan, with nothing skipped
    expect(short(48, 'full').skipped).toBeUndefined();
    // a prompt exactly as long as the window leaves nothing to score either
    const exact = planCompression({ method: 'snapkv', geometry, observations, budget: 8, options: { window: n } });
    expect(exact.skipped).toMatch(/the prompt \(5 tokens\) is not longer than the observation window \(5\)/);
    // one token more and it is planned
    expect(planCompression({ method: 'snapkv', geometry, observations, budget: 4, options: { window: 4 } }).skipped).toBeUndefined();
  });

  it('keeps a ratio budget a no-op too, but a token budget below the window stays a BudgetError', () => {
    expect(short({ ratio: 0.25 }).skipped).toMatch(/not longer than the observation window/);
    expect(() => short(8)).toThrow(BudgetError);
    expect(() => short(8)).toThrow(/cannot hold the observation window of 16/);
  });

  it('changes nothing when applied, on every backend planner', async () => {
    const store = new ReferenceStore(geometry);
    observations.forEach((o, layer) => store.append(layer, o.keys, o.values, Int32Array.from({ length: n }, (_, t) => t)));
    const plan = compress(store, observations, { method: 'snapkv', budget: 32, options: { window: 16 } });
    expect(plan.skipped).toBeDefined();
    for (let layer = 0; layer < geometry.layers; layer++) {
      for (let head = 0; head < geometry.kvHeads; head++) expect(store.length(layer, head)).toBe(n);
    }
    for (const backend of [new ReferenceBackend(), await WasmBackend.create()]) {
      try {
        expect(await backend.plan({ method: 'ada-pyramidkv', budget: 32, options: { window: 16 }, geometry, observations })).toEqual(
          planCompression({ method: 'ada-pyramidkv', budget: 32, options: { window: 16 }, geometry, observations }),
        );
      } finally {
        backend.dispose();
      }
    }
  });
});

describe('compress', () => {
  it('applies the plan to a store filled by prefill', async () => {
    const geometry = GQA;
    const n = 24;
    const observations = randomObservations(geometry, n, 5);
    const store = new ReferenceStore(geometry);
    observations.forEach((o, layer) => store.append(layer, o.keys, o.values, Int32Array.from({ length: n }, (_, t) => t)));
    const plan = compress(store, observations, { method: 'ada-snapkv', budget: 10, options: { window } });
    for (let layer = 0; layer < geometry.layers; layer++) {
      for (let head = 0; head < geometry.kvHeads; head++) {
        expect(Array.from(store.positions(layer, head))).toEqual(keptIn(plan, layer, head));
      }
    }
    expect(store.bytes()).toBeLessThan((n * geometry.layers * geometry.kvHeads * geometry.headDim * 2 * 4 * 10) / n + 1);
  });
});
