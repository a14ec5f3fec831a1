import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type WasmModel, quantizeTensor } from '../src/index.js';
import { type ReferenceConfig, type ReferenceWeights, randomFloats, randomWeights } from './engine-helpers.js';

// Greedy decode through the classifier screen (src/cpp/engine/classifier_screen.h) must pick exactly
// the token the full f32 logits give: the same argmax, the first index on ties, on classifiers built
// to put many rows within the screen's error bound of each other, on 1 and 3 threads.

const config: ReferenceConfig = { dim: 64, hiddenDim: 96, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 16, vocabSize: 300, contextLength: 40, normEps: 1e-5 };
const prompt = [3, 17, 42, 8, 8, 29, 1, 33, 12, 45, 0, 19, 27];

/**
 * A classifier whose rows crowd around a few shared rows: row r is base[r % bases] plus `spread` times
 * noise, except every `copyEvery`-th row, which copies an earlier one exactly (ties).
 */
function crowdedClassifier(seed: number, spread: number, bases: number, copyEvery: number): Float32Array {
  const { vocabSize: vocab, dim } = config;
  const base = randomFloats(seed, bases * dim);
  const noise = randomFloats(seed + 1, vocab * dim);
  const out = new Float32Array(vocab * dim);
  for (let r = 0; r < vocab; r++) {
    if (r >= bases && r % copyEvery === 0) {
      const source = Math.floor(r / 2);
      out.copyWithin(r * dim, source * dim, (source + 1) * dim);
      continue;
    }
    for (let i = 0; i < dim; i++) out[r * dim + i] = base[(r % bases) * dim + i]! + spread * noise[r * dim + i]!;
  }
  return out;
}

function withClassifier(weights: ReferenceWeights, classifier: Float32Array): ReferenceWeights {
  return { ...weights, classifier };
}

/** Two identical sequences decoded side by side: greedy through the screen, and full logits. */
function greedyAgainstFull(engine: Engine, model: WasmModel, reference: WasmModel, steps: number, batch: number, tokenSeed: number) {
  const pool = engine.createPool({ headDim: config.headDim, blockSize: 4 });
  const screened = Array.from({ length: batch }, (_, i) => {
    const sequence = pool.addSequence(config.layers, config.kvHeads);
    model.prefill(pool, sequence, prompt.slice(i));
    return sequence;
  });
  const full = Array.from({ length: batch }, (_, i) => {
    const sequence = pool.addSequence(config.layers, config.kvHeads);
    reference.prefill(pool, sequence, prompt.slice(i));
    return sequence;
  });
  const picked: number[] = [];
  for (let step = 0; step < steps; step++) {
    const tokens = Array.from({ length: batch }, (_, i) => (tokenSeed * 31 + step * 7 + i * 13) % config.vocabSize);
    const at = (i: number) => prompt.length - i + step;
    const greedy = model.decodeBatch(pool, screened.map((sequence, i) => ({ sequence, token: tokens[i]!, position: at(i) })), { logits: false, argmax: true });
    const logits = reference.decodeBatch(pool, full.map((sequence, i) => ({ sequence, token: tokens[i]!, position: at(i) })), { argmax: true });
    expect(greedy.logits).toBeUndefined();
    for (let i = 0; i < batch; i++) {
      const row = logits.logits!.subarray(i * config.vocabSize, (i + 1) * config.vocabSize);
      let first = 0;
      for (let r = 1; r < row.length; r++) if (row[r]! > row[first]!) first = r;
      expect(logits.argmax![i]).toBe(first);
      expect(greedy.argmax![i]).toBe(first);
      picked.push(first);
    }
  }
  pool.dispose();
  return picked;
}

describe('greedy decode through the classifier screen', () => {
  let single: Engine;
  let threaded: Engine;
  beforeAll(async () => {
    single = await Engine.load({ threads: 1 });
    threaded = await Engine.load({ threads: 3, relaxedSimd: true });
  });
  afterAll(() => {
    single?.dispose();
    threaded?.dispose();
  });

  it('keeps a q8_0 copy of an f32 classifier and says how many bytes it holds', () => {
    const untied = randomWeights(config, 10, false);
    const blocks = (config.vocabSize * config.dim) / 32;
    const screenedBytes = blocks * 34 + config.vocabSize * 3 * 4;
    const model = single.loadModel(config, untied);
    expect(model.screenBytes).toBe(screenedBytes);
    // the screen is not a weight: resident bytes stay the tensors' own
    const off = single.loadModel(config, untied, { classifierScreen: false });
    expect(off.screenBytes).toBe(0);
    expect(model.residentWeightBytes).toBe(off.residentWeightBytes);
    // a tied classifier (the embedding) gets one too
    const tied = single.loadModel(config, randomWeights(config, 11));
    expect(tied.screenBytes).toBe(screenedBytes);
    // quantized classifiers are read as they are: nothing to screen
    const q8 = single.loadModel(config, { ...untied, classifier: { type: 'q8_0', bytes: quantizeTensor('q8_0', untied.classifier, config.vocabSize, config.dim) } });
    expect(q8.screenBytes).toBe(0);
    // rows that are not whole q8_0 blocks (dim 48): none
    const narrow = { ...config, dim: 48, queryHeads: 3, kvHeads: 1 };
    const narrowModel = single.loadModel(narrow, randomWeights(narrow, 12));
    expect(narrowModel.screenBytes).toBe(0);
    // weights beyond what an f16 scale holds (1e7 / 127 > 65504): none, and greedy still works
    const huge = untied.classifier.slice();
    huge[5] = 1e7;
    const hugeModel = single.loadModel(config, withClassifier(untied, huge));
    expect(hugeModel.screenBytes).toBe(0);
    const reference = single.loadModel(config, withClassifier(untied, huge), { classifierScreen: false });
    greedyAgainstFull(single, hugeModel, reference, 2, 2, 1);
    for (const m of [model, off, tied, q8, narrowModel, hugeModel, reference]) m.dispose();
  });

  it('picks exactly the full logits\' argmax on crowded classifiers, ties to the first index, any batch, 1 and 3 threads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.constantFrom(0, 1e-7, 1e-5, 1e-3, 3e-2, 1),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(3, 7, 50),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        (seed, spread, bases, copyEvery, batch, threads) => {
          const engine = threads ? threaded : single;
          const weights = withClassifier(randomWeights(config, seed, false), crowdedClassifier(seed + 5, spread, bases, copyEvery));
          const model = engine.loadModel(config, weights);
          const reference = engine.loadModel(config, weights, { classifierScreen: false });
          expect(model.screenBytes).toBeGreaterThan(0);
          try {
            greedyAgainstFull(engine, model, reference, 2, batch, seed);
          } finally {
            model.dispose();
            reference.dispose();
          }
        },
      ),
      { numRuns: 40, seed: 4242 },
    );
  });

  it('all rows equal: every logit ties, and the first token wins', () => {
    const weights = withClassifier(randomWeights(config, 20, false), crowdedClassifier(21, 0, 1, 1_000));
    const model = single.loadModel(config, weights);
    const reference = single.loadModel(config, weights, { classifierScreen: false });
    expect(greedyAgainstFull(single, model, reference, 3, 3, 2).every((token) => token === 0)).toBe(true);
    model.dispose();
    reference.dispose();
  });

  it('reports -1 for a row whose logits are not finite (NaN in a norm weight), with and without the screen', () => {
    const broken = randomWeights(config, 30, false);
    broken.finalNorm = broken.finalNorm.slice();
    broken.finalNorm[3] = Number.NaN;
    for (const screen of [true, false]) {
      const model = single.loadModel(config, broken, { classifierScreen: screen });
      const pool = single.createPool({ headDim: config.headDim, blockSize: 4 });
      const sequence = pool.addSequence(config.layers, config.kvHeads);
      model.prefill(pool, sequence, prompt);
      const { argmax } = model.decodeBatch(pool, [{ sequence, token: 4, position: prompt.length }], { logits: false, argmax: true });
      expect(Array.from(argmax!)).toEqual([-1]);
      pool.dispose();
      model.dispose();
    }
  });

  it('a NaN in the classifier leaves it unscreened, and greedy decode reports the row', () => {
    const weights = randomWeights(config, 40, false);
    const classifier = weights.classifier.slice();
    classifier[7 * config.dim + 2] = Number.NaN;
    const model = single.loadModel(config, withClassifier(weights, classifier));
    expect(model.screenBytes).toBe(0);
    const pool = single.createPool({ headDim: config.headDim, blockSize: 4 });
    const sequence = pool.addSequence(config.layers, config.kvHeads);
    model.prefill(pool, sequence, prompt);
    expect(Array.from(model.decodeBatch(pool, [{ sequence, token: 4, position: prompt.length }], { logits: false, argmax: true }).argmax!)).toEqual([-1]);
    pool.dispose();
    model.dispose();
  });
});
