import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type KvFormat, type WasmModel } from '../src/index.js';
import { type ReferenceConfig, maxAbs, maxAbsDifference, randomWeights } from './engine-helpers.js';
import { elementBounds } from './kv-format-reference.js';

// The engine's prefill and decode over pools of every K/V format: the K/V it appends are stored within
// the format's bound, its logits stay near those over an f32 pool, and threads change no bit.

const config: ReferenceConfig = { dim: 64, hiddenDim: 96, layers: 2, queryHeads: 8, kvHeads: 2, headDim: 32, vocabSize: 50, contextLength: 64, normEps: 1e-5 };
const prompt = [3, 17, 42, 8, 8, 29, 1, 33, 12, 45, 0, 19, 27, 4, 4, 38, 21, 6, 13, 2, 44, 30];
const continuation = [5, 11, 40, 22, 9, 31, 17, 3, 26, 48];
// max |logit - f32 pool's logit| / max |logit| over prefill and decode (measured on this model, both
// builds: f16 8.1e-5, int8 2.0e-3, int4 3.1e-2); the limits are 5x those.
const LOGIT_TOLERANCE: Record<KvFormat, number> = { f32: 0, f16: 4e-4, int8: 1e-2, int4: 0.16 };

function run(engine: Engine, model: WasmModel, format: KvFormat, blockSize = 8, headFormats?: KvFormat[]) {
  const pool = engine.createPool({ headDim: config.headDim, blockSize, format });
  const sequence = pool.addSequence(config.layers, config.kvHeads, headFormats);
  const first = model.prefill(pool, sequence, prompt, { observations: true });
  const logits = [first.logits];
  continuation.forEach((token, i) => logits.push(model.decode(pool, sequence, token, prompt.length + i)));
  return { pool, sequence, logits, observations: first.observations! };
}

describe.each([
  ['plain SIMD', false],
  ['relaxed SIMD', true],
] as const)('%s builds: the engine over f16, int8 and int4 pools', (_name, relaxed) => {
  let single: Engine;
  let threaded: Engine;
  beforeAll(async () => {
    single = await Engine.load({ threads: 1, relaxedSimd: relaxed });
    threaded = await Engine.load({ threads: 3, relaxedSimd: relaxed });
  });
  afterAll(() => {
    single?.dispose();
    threaded?.dispose();
  });

  it.each(['f16', 'int8', 'int4'] as const)('%s: prefill and decode append within the bound and give logits near the f32 pool\'s', (format) => {
    const weights = randomWeights(config, 500);
    const model = single.loadModel(config, weights);
    const exact = run(single, model, 'f32');
    const stored = run(single, model, format);
    stored.pool.check();
    // 32 rows fill 4 blocks of 8 in every head: no residual (nor a spare the forward took ahead) is left
    expect(stored.pool.sequenceStats(stored.sequence).rows).toBe(config.layers * config.kvHeads * 32);
    expect(stored.pool.stats().residualBytes).toBe(0);
    const d = config.headDim;
    for (let layer = 0; layer < config.layers; layer++) {
      for (let h = 0; h < config.kvHeads; h++) {
        // the K/V the f32 pool holds (prefill's are its observations), against what the format stores
        const keys = exact.pool.keys(exact.sequence, layer, h);
        const values = exact.pool.values(exact.sequence, layer, h);
        const observed = exact.observations[layer]!.keys;
        for (let t = 0; t < prompt.length; t++) expect(Array.from(keys.subarray(t * d, (t + 1) * d))).toEqual(Array.from(observed.subarray((t * config.kvHeads + h) * d, (t * config.kvHeads + h + 1) * d)));
        const eK = elementBounds(format, 'keys', keys, d, 8);
        const eV = elementBounds(format, 'values', values, d, 8);
        const storedK = stored.pool.keys(stored.sequence, layer, h);
        const storedV = stored.pool.values(stored.sequence, layer, h);
        expect(storedK.length).toBe((prompt.length + continuation.length) * d);
        // layer 0's rows are the same products in both pools (deeper layers see attention's error)
        if (layer === 0) {
          for (let i = 0; i < keys.length; i++) {
            expect(Math.abs(storedK[i]! - keys[i]!)).toBeLessThanOrEqual(eK[i]!);
            expect(Math.abs(storedV[i]! - values[i]!)).toBeLessThanOrEqual(eV[i]!);
          }
        }
      }
    }
    let worst = 0;
    exact.logits.forEach((logits, step) => (worst = Math.max(worst, maxAbsDifference(stored.logits[step]!, logits) / maxAbs(logits))));
    expect(worst).toBeGreaterThan(0); // the format really stores something else than f32
    expect(worst).toBeLessThan(LOGIT_TOLERANCE[format]);
    exact.pool.dispose();
    stored.pool.dispose();
    model.dispose();
  });

  it.each(['f16', 'int8', 'int4'] as const)('%s: 1 and 3 threads give the same bits; prefill in chunks stays near one prefill', (format) => {
    const weights = randomWeights(config, 600);
    const one = run(single, single.loadModel(config, weights), format);
    const modelThreaded = threaded.loadModel(config, weights);
    const three = run(threaded, modelThreaded, format);
    one.logits.forEach((logits, step) => expect(Array.from(three.logits[step]!)).toEqual(Array.from(logits)));
    // In chunks a row sees earlier rows as stored when its chunk runs (encoded once their block filled),
    // in one call the same rows after the whole prompt was appended: close, not the same bits.
    const pool = threaded.createPool({ headDim: config.headDim, blockSize: 8, format });
    const sequence = pool.addSequence(config.layers, config.kvHeads);
    let logits: Float32Array = new Float32Array();
    for (let start = 0; start < prompt.length; start += 5) logits = modelThreaded.prefill(pool, sequence, prompt.slice(start, start + 5), { start }).logits;
    expect(maxAbsDifference(logits, one.logits[0]!) / maxAbs(one.logits[0]!)).toBeLessThan(LOGIT_TOLERANCE[format]);
    pool.check();
  });
  it('a format per layer and KV head: each head stores what a pool of its format stores, logits stay near f32, threads change no bit', () => {
    const headFormats: KvFormat[] = ['int4', 'f16', 'f32', 'int8']; // layer 0: int4, f16; layer 1: f32, int8
    const weights = randomWeights(config, 700);
    const model = single.loadModel(config, weights);
    const exact = run(single, model, 'f32');
    const mixed = run(single, model, 'f32', 8, headFormats);
    mixed.pool.check();
    expect(mixed.pool.stats().residualBytes).toBe(0);
    // layer 0's K/V are the same products whatever the cache holds: head h's rows equal the rows a pool
    // of its format stores, bit for bit
    for (let h = 0; h < config.kvHeads; h++) {
      const own = run(single, model, headFormats[h]!);
      expect(mixed.pool.keys(mixed.sequence, 0, h)).toEqual(own.pool.keys(own.sequence, 0, h));
      expect(mixed.pool.values(mixed.sequence, 0, h)).toEqual(own.pool.values(own.sequence, 0, h));
      own.pool.dispose();
    }
    let worst = 0;
    exact.logits.forEach((logits, step) => (worst = Math.max(worst, maxAbsDifference(mixed.logits[step]!, logits) / maxAbs(logits))));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(LOGIT_TOLERANCE.int4);
    const three = run(threaded, threaded.loadModel(config, weights), 'f32', 8, headFormats);
    mixed.logits.forEach((logits, step) => expect(Array.from(three.logits[step]!)).toEqual(Array.from(logits)));
    for (const r of [exact, mixed, three]) r.pool.dispose();
  });
});
