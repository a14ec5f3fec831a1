import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AllocatorError,
  Engine,
  relaxedSimdSupported,
  type EngineModelWeights,
  type TensorType,
  type WasmModel,
  dequantizeTensor,
  quantizeTensor,
} from '../src/index.js';
import { type ReferenceConfig, type ReferenceWeights, maxAbs, maxAbsDifference, randomFloats, randomWeights, referenceForward } from './engine-helpers.js';

// The whole forward pass on small random models against the f64 reference forward of
// engine-helpers.ts: prefill (logits, observations, the K/V left in the pool), decode over the paged
// cache, batches, every weight type, threads on and off, and typed errors that leave sequences intact.

const config: ReferenceConfig = { dim: 64, hiddenDim: 96, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 16, vocabSize: 50, contextLength: 40, normEps: 1e-5 };
// K-quants need rows of 256: a wider model for them.
const wideConfig: ReferenceConfig = { dim: 256, hiddenDim: 512, layers: 2, queryHeads: 8, kvHeads: 2, headDim: 32, vocabSize: 40, contextLength: 24, normEps: 1e-5 };
// Qwen2.5-0.5B's attention shape (14 query heads over 2 KV heads: groups of 7, head dim 64, NeoX RoPE,
// Q/K/V biases) in a small model.
const qwenConfig: ReferenceConfig = { dim: 128, hiddenDim: 96, layers: 2, queryHeads: 14, kvHeads: 2, headDim: 64, vocabSize: 50, contextLength: 64, normEps: 1e-6, ropeStyle: 'neox' };

/** The same weights stored as `type` (matrices only), and the f32 values the engine will compute with. */
function asType(c: ReferenceConfig, w: ReferenceWeights, type: TensorType): { engine: EngineModelWeights; reference: ReferenceWeights } {
  const convert = (values: Float32Array, rows: number, cols: number) => {
    const bytes = quantizeTensor(type, values, rows, cols);
    return { tensor: { type, bytes }, values: dequantizeTensor(type, bytes, rows, cols) };
  };
  const qDim = c.queryHeads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const embedding = convert(w.tokenEmbedding, c.vocabSize, c.dim);
  const classifier = w.classifier === w.tokenEmbedding ? embedding : convert(w.classifier, c.vocabSize, c.dim);
  const layers = w.layers.map((l) => {
    const m = {
      wq: convert(l.wq, qDim, c.dim),
      wk: convert(l.wk, kvDim, c.dim),
      wv: convert(l.wv, kvDim, c.dim),
      wo: convert(l.wo, c.dim, qDim),
      w1: convert(l.w1, c.hiddenDim, c.dim),
      w2: convert(l.w2, c.dim, c.hiddenDim),
      w3: convert(l.w3, c.hiddenDim, c.dim),
    };
    const biases = { ...(l.bq ? { bq: l.bq } : {}), ...(l.bk ? { bk: l.bk } : {}), ...(l.bv ? { bv: l.bv } : {}) };
    return {
      engine: { attentionNorm: l.attentionNorm, ffnNorm: l.ffnNorm, ...biases, ...Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.tensor])) },
      reference: { attentionNorm: l.attentionNorm, ffnNorm: l.ffnNorm, ...biases, ...Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.values])) },
    };
  });
  return {
    engine: {
      tokenEmbedding: embedding.tensor,
      classifier: classifier.tensor,
      finalNorm: w.finalNorm,
      ropeCos: w.ropeCos,
      ropeSin: w.ropeSin,
      layers: layers.map((l) => l.engine) as unknown as EngineModelWeights['layers'],
    },
    reference: {
      tokenEmbedding: embedding.values,
      classifier: classifier.values,
      finalNorm: w.finalNorm,
      ropeCos: w.ropeCos,
      ropeSin: w.ropeSin,
      layers: layers.map((l) => l.reference) as ReferenceWeights['layers'],
    },
  };
}

const prompt = [3, 17, 42, 8, 8, 29, 1, 33, 12, 45, 0, 19, 27];
const continuation = [5, 11, 40, 22, 9];

/** Prefill + decode of `continuation`; the logits of every step. */
function runSequence(engine: Engine, model: WasmModel, c: ReferenceConfig, observations = false) {
  const pool = engine.createPool({ headDim: c.headDim, blockSize: 4 });
  const sequence = pool.addSequence(c.layers, c.kvHeads);
  const first = model.prefill(pool, sequence, prompt, { observations });
  const logits = [first.logits];
  continuation.forEach((token, i) => logits.push(model.decode(pool, sequence, token, prompt.length + i)));
  return { pool, sequence, logits, observations: first.observations };
}

// Every suite runs on the plain SIMD builds and on the relaxed-SIMD ones (vitest.config.ts starts the
// test workers with --experimental-wasm-relaxed-simd, which Node 20 needs to validate relaxed SIMD).
describe.each([
  ['plain SIMD', false],
  ['relaxed SIMD', true],
] as const)('%s builds', (_name, relaxed) => {
  let single: Engine;
  let threaded: Engine;
  beforeAll(async () => {
    expect(relaxedSimdSupported()).toBe(true);
    single = await Engine.load({ threads: 1, relaxedSimd: relaxed });
    threaded = await Engine.load({ threads: 3, relaxedSimd: relaxed });
  });
  afterAll(() => {
    single?.dispose();
    threaded?.dispose();
  });

  describe('the engine forward pass against an f64 reference', () => {
    it('loads the threads variant in Node and says what it chose', () => {
      expect(single.variant).toBe(relaxed ? 'relaxed-simd' : 'simd');
      expect(single.notice).toMatch(/single thread \(1 thread requested\)/);
      expect(threaded.variant).toBe(relaxed ? 'relaxed-simd-threads' : 'simd-threads');
      expect(threaded.threads).toBe(3);
      expect(threaded.notice).toMatch(/3 threads over one shared memory/);
      expect(threaded.notice).toMatch(relaxed ? /relaxed SIMD \(fused multiply-add\)/ : /relaxed SIMD turned off/);
    });

    it('f32 weights: prefill logits, observations and pooled K/V, then decode over the paged cache, within 1e-4 relative', () => {
      const weights = randomWeights(config, 100);
      const model = single.loadModel(config, weights);
      expect(model.residentWeightBytes).toBe(4 * (config.vocabSize * config.dim + config.dim + 2 * config.layers * config.dim +
        config.layers * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 96 * 64)) + 2 * 4 * config.contextLength * config.headDim / 2);
      const expected = referenceForward(config, weights, [...prompt, ...continuation]);
      const { pool, sequence, logits, observations } = runSequence(single, model, config, true);
      logits.forEach((got, step) => {
        const want = expected.logits[prompt.length - 1 + step]!;
        expect(maxAbsDifference(got, want) / maxAbs(want)).toBeLessThan(1e-4);
      });
      const n = prompt.length;
      for (let l = 0; l < config.layers; l++) {
        const flat = (rows: Float64Array[]) => rows.slice(0, n).flatMap((r) => Array.from(r));
        expect(maxAbsDifference(observations![l]!.keys, flat(expected.keys[l]!))).toBeLessThan(1e-4);
        expect(maxAbsDifference(observations![l]!.values, flat(expected.values[l]!))).toBeLessThan(1e-4);
        expect(maxAbsDifference(observations![l]!.queries, flat(expected.queries[l]!))).toBeLessThan(1e-4);
        // The pool holds every token's post-RoPE K/V (prompt and decoded), head by head.
        for (let h = 0; h < config.kvHeads; h++) {
          const keys = pool.keys(sequence, l, h);
          expect(keys.length).toBe((n + continuation.length) * config.headDim);
          const want = expected.keys[l]!.flatMap((row) => Array.from(row.subarray(h * config.headDim, (h + 1) * config.headDim)));
          expect(maxAbsDifference(keys, want)).toBeLessThan(1e-4);
          expect(Array.from(pool.positions(sequence, l, h))).toEqual(Array.from({ length: n + continuation.length }, (_, t) => t));
        }
      }
      pool.check();
      model.dispose();
    });

    it('an untied classifier works too', () => {
      const weights = randomWeights(config, 200, false);
      const model = single.loadModel(config, weights);
      const expected = referenceForward(config, weights, prompt);
      const pool = single.createPool({ headDim: config.headDim });
      const { logits } = model.prefill(pool, pool.addSequence(config.layers, config.kvHeads), prompt);
      const want = expected.logits[prompt.length - 1]!;
      expect(maxAbsDifference(logits, want) / maxAbs(want)).toBeLessThan(1e-4);
      model.dispose();
    });

    for (const [type, c, bound] of [
      ['f16', config, 1e-4],
      ['bf16', config, 1e-4],
      ['q8_0', config, 1e-2],
      ['q4_0', config, 1e-2],
      ['q4_K', wideConfig, 1e-2],
      ['q6_K', wideConfig, 1e-2],
    ] as Array<[TensorType, ReferenceConfig, number]>) {
      it(`${type} weights kept in their format match the reference over the dequantized weights (bound ${bound} of max |logit|)`, () => {
        const { engine: weights, reference } = asType(c, randomWeights(c, 300), type);
        const model = single.loadModel(c, weights);
        expect(model.tensorTypes['layers.1.w2']).toBe(type);
        const expected = referenceForward(c, reference, [...prompt, ...continuation].map((t) => t % c.vocabSize));
        const pool = single.createPool({ headDim: c.headDim, blockSize: 3 });
        const sequence = pool.addSequence(c.layers, c.kvHeads);
        const steps = [model.prefill(pool, sequence, prompt.map((t) => t % c.vocabSize)).logits];
        continuation.forEach((token, i) => steps.push(model.decode(pool, sequence, token % c.vocabSize, prompt.length + i)));
        steps.forEach((got, step) => {
          const want = expected.logits[prompt.length - 1 + step]!;
          // Quantized activations (8 bits per block) make the gap; f16/bf16 are exact in f32.
          expect(maxAbsDifference(got, want) / maxAbs(want)).toBeLessThan(bound);
        });
        model.dispose();
      });
    }

    it('quantizes f32 weights at load when asked: q8_0 keeps about 1.06 bytes per parameter', () => {
      const weights = randomWeights(config, 400);
      const f32 = single.loadModel(config, weights);
      const q8 = single.loadModel(config, weights, { quantize: 'q8_0' });
      expect(q8.tensorTypes.tokenEmbedding).toBe('q8_0');
      expect(q8.tensorTypes['layers.0.attentionNorm']).toBe('f32');
      const normFloats = config.dim * (2 * config.layers + 1);
      const ropeBytes = 2 * 4 * config.contextLength * config.headDim / 2;
      expect(q8.parameterCount).toBe(f32.parameterCount);
      expect((q8.residentWeightBytes - ropeBytes - 4 * normFloats) / (q8.parameterCount - normFloats)).toBeCloseTo(34 / 32, 6);
      const pool = single.createPool({ headDim: config.headDim });
      const a = f32.prefill(pool, pool.addSequence(config.layers, config.kvHeads), prompt).logits;
      const b = q8.prefill(pool, pool.addSequence(config.layers, config.kvHeads), prompt).logits;
      expect(maxAbsDifference(a, b) / maxAbs(a)).toBeLessThan(1e-2);
      f32.dispose();
      q8.dispose();
    });
  });

  describe('Qwen 2 (Q/K/V biases, NeoX RoPE, groups of 7 with head dim 64) against the f64 reference', () => {
    // q8_0: the activations' 8-bit rounding, summed over the 896-wide output projection, moves these
    // logits by 0.6-1.7% of the largest (measured over seeds, with and without biases, either RoPE
    // style: not the biases or the rotation); the bound is core's for quantized models.
    for (const [type, bound] of [['f32', 1e-4], ['bf16', 1e-4], ['q8_0', 2e-2]] as Array<[TensorType, number]>) {
      it(`${type} weights: prefill (logits, observations, pooled K/V) and decode`, () => {
        const base = randomWeights(qwenConfig, 900, false, true);
        const { engine: weights, reference } = type === 'f32' ? { engine: base, reference: base } : asType(qwenConfig, base, type);
        const model = single.loadModel(qwenConfig, weights);
        expect(model.parameterCount).toBe(single.loadModel(qwenConfig, base).parameterCount);
        const tokens = [...prompt, ...continuation];
        const expected = referenceForward(qwenConfig, reference, tokens);
        const { pool, sequence, logits, observations } = runSequence(single, model, qwenConfig, true);
        logits.forEach((got, step) => {
          const want = expected.logits[prompt.length - 1 + step]!;
          expect(maxAbsDifference(got, want) / maxAbs(want)).toBeLessThan(bound);
        });
        if (type === 'f32') {
          const n = prompt.length;
          for (let l = 0; l < qwenConfig.layers; l++) {
            const flat = (rows: Float64Array[]) => rows.slice(0, n).flatMap((r) => Array.from(r));
            expect(maxAbsDifference(observations![l]!.queries, flat(expected.queries[l]!))).toBeLessThan(1e-4);
            expect(maxAbsDifference(observations![l]!.keys, flat(expected.keys[l]!))).toBeLessThan(1e-4);
            expect(maxAbsDifference(observations![l]!.values, flat(expected.values[l]!))).toBeLessThan(1e-4);
            for (let h = 0; h < qwenConfig.kvHeads; h++) {
              const want = expected.keys[l]!.flatMap((row) => Array.from(row.subarray(h * 64, (h + 1) * 64)));
              expect(maxAbsDifference(pool.keys(sequence, l, h), want)).toBeLessThan(1e-4);
            }
          }
        }
        pool.check();
      });
    }

    it('the biases and the RoPE style matter: without either the logits differ', () => {
      const weights = randomWeights(qwenConfig, 901, true, true);
      const pool = single.createPool({ headDim: qwenConfig.headDim });
      const run = (c: ReferenceConfig, w: ReferenceWeights) => single.loadModel(c, w).prefill(pool, pool.addSequence(c.layers, c.kvHeads), prompt).logits;
      const full = run(qwenConfig, weights);
      const noBias = run(qwenConfig, { ...weights, layers: weights.layers.map(({ bq: _q, bk: _k, bv: _v, ...rest }) => rest) });
      const adjacent = run({ ...qwenConfig, ropeStyle: 'adjacent' }, weights);
      expect(maxAbsDifference(full, noBias)).toBeGreaterThan(1e-3);
      expect(maxAbsDifference(full, adjacent)).toBeGreaterThan(1e-3);
      const want = referenceForward({ ...qwenConfig, ropeStyle: 'adjacent' }, weights, prompt).logits[prompt.length - 1]!;
      expect(maxAbsDifference(adjacent, want) / maxAbs(want)).toBeLessThan(1e-4);
    });

    it('rejects biases of the wrong length and unknown RoPE styles', () => {
      const weights = randomWeights(qwenConfig, 902, true, true);
      const layers = [{ ...weights.layers[0]!, bk: new Float32Array(3) }, weights.layers[1]!];
      expect(() => single.loadModel(qwenConfig, { ...weights, layers })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => single.loadModel({ ...qwenConfig, ropeStyle: 'gptj' as never }, weights)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });
  });

  describe('chunked prefill: a prompt at an offset, after the chunks before it', () => {
    const long = Array.from({ length: 37 }, (_, t) => (t * 13 + 5) % 50);

    /** Prefill of `tokens` split at `cuts` (chunk starts after 0); the last logits, every chunk's observations joined, the pool. */
    function chunked(engine: Engine, model: WasmModel, c: ReferenceConfig, tokens: number[], cuts: number[], blockSize: number) {
      const pool = engine.createPool({ headDim: c.headDim, blockSize });
      const sequence = pool.addSequence(c.layers, c.kvHeads);
      const bounds = [0, ...cuts, tokens.length];
      let logits: Float32Array = new Float32Array(0);
      const parts: Array<ReturnType<WasmModel['prefill']>['observations']> = [];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const result = model.prefill(pool, sequence, tokens.slice(bounds[i], bounds[i + 1]), { start: bounds[i]!, observations: true });
        logits = result.logits;
        parts.push(result.observations);
      }
      const join = (pick: (o: { queries: Float32Array; keys: Float32Array; values: Float32Array }) => Float32Array, layer: number) =>
        Float32Array.from(parts.flatMap((p) => Array.from(pick(p![layer]!))));
      const observations = Array.from({ length: c.layers }, (_, l) => ({ queries: join((o) => o.queries, l), keys: join((o) => o.keys, l), values: join((o) => o.values, l) }));
      return { pool, sequence, logits, observations };
    }

    for (const [name, c, biases] of [['LLaMA, groups of 2', config, false], ['Qwen 2, groups of 7, head dim 64', qwenConfig, true]] as const) {
      it(`${name}: every chunking gives the whole prefill's logits, observations and cache bit for bit, within 1e-4 of the f64 reference`, () => {
        const weights = randomWeights(c, 1000, true, biases);
        const tokens = long.slice(0, Math.min(long.length, c.contextLength));
        const expected = referenceForward(c, weights, tokens);
        const want = expected.logits[tokens.length - 1]!;
        for (const engine of [single, threaded]) {
          const model = engine.loadModel(c, weights);
          // (attention's online softmax goes block by block: the same block size gives the same bits)
          for (const [cuts, blockSize] of [[[1], 4], [[5, 16, 17, 30], 4], [[12, 24], 16], [[3, 4, 5, 6, 7], 3]] as Array<[number[], number]>) {
            const whole = chunked(engine, model, c, tokens, [], blockSize);
            expect(maxAbsDifference(whole.logits, want) / maxAbs(want)).toBeLessThan(1e-4);
            const part = chunked(engine, model, c, tokens, cuts, blockSize);
            expect(Array.from(part.logits)).toEqual(Array.from(whole.logits));
            for (let l = 0; l < c.layers; l++) {
              expect(Array.from(part.observations[l]!.queries)).toEqual(Array.from(whole.observations[l]!.queries));
              expect(Array.from(part.observations[l]!.keys)).toEqual(Array.from(whole.observations[l]!.keys));
              expect(Array.from(part.observations[l]!.values)).toEqual(Array.from(whole.observations[l]!.values));
              for (let h = 0; h < c.kvHeads; h++) {
                expect(Array.from(part.pool.values(part.sequence, l, h))).toEqual(Array.from(whole.pool.values(whole.sequence, l, h)));
                expect(Array.from(part.pool.positions(part.sequence, l, h))).toEqual(tokens.map((_, t) => t));
              }
            }
            // decoding after a chunked prompt continues as after a whole one
            expect(Array.from(model.decode(part.pool, part.sequence, 7, tokens.length))).toEqual(Array.from(model.decode(whole.pool, whole.sequence, 7, tokens.length)));
            part.pool.check();
            part.pool.dispose();
            whole.pool.dispose();
          }
          model.dispose();
        }
      });
    }

    it('a prompt fed one token at a time through prefill, or decoded step by step, gives the same bits as one prefill', () => {
      const weights = randomWeights(qwenConfig, 1001, false, true);
      const model = single.loadModel(qwenConfig, weights);
      const pool = single.createPool({ headDim: qwenConfig.headDim, blockSize: 5 });
      const tokens = long.slice(0, 12);
      const whole = model.prefill(pool, pool.addSequence(qwenConfig.layers, qwenConfig.kvHeads), tokens).logits;
      const byChunk = pool.addSequence(qwenConfig.layers, qwenConfig.kvHeads);
      const byDecode = pool.addSequence(qwenConfig.layers, qwenConfig.kvHeads);
      let chunkLogits: Float32Array = new Float32Array(0);
      let decodeLogits = model.prefill(pool, byDecode, tokens.slice(0, 1)).logits;
      tokens.forEach((token, t) => {
        chunkLogits = model.prefill(pool, byChunk, [token], { start: t }).logits;
        if (t > 0) decodeLogits = model.decode(pool, byDecode, token, t);
      });
      expect(Array.from(chunkLogits)).toEqual(Array.from(whole));
      expect(Array.from(decodeLogits)).toEqual(Array.from(whole));
      model.dispose();
    });

    it('refuses a chunk that does not continue the sequence exactly, with typed errors that change nothing', () => {
      const model = single.loadModel(config, randomWeights(config, 1002));
      const code = (action: () => unknown) => {
        try {
          action();
        } catch (error) {
          expect(error).toBeInstanceOf(AllocatorError);
          return `${(error as AllocatorError).code}: ${(error as AllocatorError).message}`;
        }
        return 'none';
      };
      const pool = single.createPool({ headDim: config.headDim, blockSize: 4, maxBlocks: 2 * 2 * 4 });
      const sequence = pool.addSequence(config.layers, config.kvHeads);
      expect(code(() => model.prefill(pool, sequence, [1, 2], { start: 3 }))).toMatch(/^INVALID_ARGUMENT: .*exactly positions 0 \.\. 2/);
      expect(code(() => model.prefill(pool, sequence, [1], { start: -1 }))).toMatch(/^INVALID_ARGUMENT/);
      expect(code(() => model.prefill(pool, sequence, [1], { start: 1.5 }))).toMatch(/^INVALID_ARGUMENT/);
      model.prefill(pool, sequence, [1, 2, 3, 4, 5]);
      expect(code(() => model.prefill(pool, sequence, [1], { start: 4 }))).toMatch(/^INVALID_ARGUMENT/); // overlaps
      expect(code(() => model.prefill(pool, sequence, [1], { start: 6 }))).toMatch(/^INVALID_ARGUMENT/); // a gap
      expect(code(() => model.prefill(pool, sequence, [1, 2], { start: 39 }))).toMatch(/^OUT_OF_RANGE/);
      expect(code(() => model.prefill(pool, sequence, [1, 50], { start: 5 }))).toMatch(/^OUT_OF_RANGE/);
      // 4 blocks per head at most: positions 0..15; a chunk to position 16 needs a fifth.
      const before = pool.stats();
      expect(code(() => model.prefill(pool, sequence, Array.from({ length: 12 }, () => 1), { start: 5 }))).toMatch(/^POOL_EXHAUSTED/);
      expect(pool.stats()).toEqual(before);
      expect(pool.length(sequence, 1, 1)).toBe(5);
      model.prefill(pool, sequence, Array.from({ length: 11 }, () => 1), { start: 5 }); // exactly fits
      expect(pool.length(sequence, 1, 1)).toBe(16);
      // a compacted head no longer holds 0..start-1
      const other = single.createPool({ headDim: config.headDim, blockSize: 4 });
      const compacted = other.addSequence(config.layers, config.kvHeads);
      model.prefill(other, compacted, [1, 2, 3, 4, 5, 6]);
      other.compact(compacted, 1, [Int32Array.of(0, 1, 2, 3, 5), Int32Array.of(0, 1, 2, 3, 4, 5)]);
      const held = other.stats();
      expect(code(() => model.prefill(other, compacted, [1], { start: 6 }))).toMatch(/^INVALID_ARGUMENT/);
      expect(code(() => model.prefill(other, compacted, [1], { start: 5 }))).toMatch(/^INVALID_ARGUMENT/);
      expect(other.stats()).toEqual(held);
      expect(pool.length(sequence, 0, 0)).toBe(16);
      pool.check();
      other.check();
      model.dispose();
    });
  });

  describe('batches and threads', () => {
    it('decodeBatch row i equals decoding that sequence alone, bit for bit, and gives argmax', () => {
      const weights = randomWeights(config, 500);
      const model = single.loadModel(config, weights);
      const pool = single.createPool({ headDim: config.headDim, blockSize: 4 });
      // Nine sequences: the float kernels tile a batch as 4 + 3 + 2 tokens (1-3 go in one pass).
      const prompts = [prompt, prompt.slice(0, 5), [7, 7, 7, 7, 7, 7, 7, 7, 1], ...[1, 2, 3, 4, 6, 9].map((k) => prompt.slice(k).concat([k]))];
      const batched = prompts.map((p) => {
        const sequence = pool.addSequence(config.layers, config.kvHeads);
        model.prefill(pool, sequence, p);
        return sequence;
      });
      const alone = prompts.map((p) => {
        const sequence = pool.addSequence(config.layers, config.kvHeads);
        model.prefill(pool, sequence, p);
        return sequence;
      });
      for (let step = 0; step < 3; step++) {
        const steps = prompts.map((p, i) => ({ sequence: batched[i]!, token: (step * 7 + i) % config.vocabSize, position: p.length + step }));
        const result = model.decodeBatch(pool, steps, { argmax: true });
        steps.forEach((s, i) => {
          const single = model.decode(pool, alone[i]!, s.token, s.position);
          const row = result.logits!.subarray(i * config.vocabSize, (i + 1) * config.vocabSize);
          expect(Array.from(row)).toEqual(Array.from(single));
          expect(result.argmax![i]).toBe(model.argmax(single));
        });
      }
      model.dispose();
    });

    it("hands back each layer's decode queries: what prefill computes for the same token and position", () => {
      const model = single.loadModel(config, randomWeights(config, 501));
      const pool = single.createPool({ headDim: config.headDim, blockSize: 4 });
      const next = 3;
      const decoded = pool.addSequence(config.layers, config.kvHeads);
      model.prefill(pool, decoded, prompt);
      const { queries, logits } = model.decodeBatch(pool, [{ sequence: decoded, token: next, position: prompt.length }], { logits: false, queries: true });
      expect(logits).toBeUndefined();
      const prefilled = pool.addSequence(config.layers, config.kvHeads);
      const { observations } = model.prefill(pool, prefilled, [...prompt, next], { observations: true });
      const qDim = config.queryHeads * config.headDim;
      for (let l = 0; l < config.layers; l++) {
        const expected = observations![l]!.queries.subarray(prompt.length * qDim);
        expect(maxAbsDifference(queries!.subarray(l * qDim, (l + 1) * qDim), expected)).toBeLessThan(1e-5);
      }
      model.dispose();
    });

    it('gives bit-identical logits and observations with 1 and 3 threads, for every weight type', () => {
      for (const [type, c] of [['f32', config], ['f16', config], ['q8_0', config], ['q4_0', config], ['q4_K', wideConfig], ['q6_K', wideConfig]] as Array<[TensorType, ReferenceConfig]>) {
        const weights = type === 'f32' ? randomWeights(c, 600) : asType(c, randomWeights(c, 600), type).engine;
        const run = (engine: Engine) => {
          const model = engine.loadModel(c, weights);
          const pool = engine.createPool({ headDim: c.headDim, blockSize: 4 });
          const sequences = [pool.addSequence(c.layers, c.kvHeads), pool.addSequence(c.layers, c.kvHeads)];
          const tokens = prompt.map((t) => t % c.vocabSize);
          const first = model.prefill(pool, sequences[0]!, tokens, { observations: true });
          model.prefill(pool, sequences[1]!, tokens.slice(0, 4));
          const steps = model.decodeBatch(pool, [
            { sequence: sequences[0]!, token: 3, position: tokens.length },
            { sequence: sequences[1]!, token: 4, position: 4 },
          ]);
          model.dispose();
          return [first.logits, ...first.observations!.flatMap((o) => [o.queries, o.keys, o.values]), steps.logits!];
        };
        const a = run(single);
        const b = run(threaded);
        a.forEach((array, i) => expect(Array.from(b[i]!)).toEqual(Array.from(array)));
      }
    });
  });

  describe('the worker threads', () => {
    it('really run tasks: the worker takes a share of the jobs', () => {
      const { allocator } = threaded;
      const rows = 256;
      const cols = 256;
      const [w, x, out, counts] = allocator.scratch.regions(rows * cols * 4, 8 * cols * 4, 8 * rows * 4, 64) as [number, number, number, number];
      allocator.f32(w, rows * cols).set(randomFloats(1, rows * cols));
      allocator.f32(x, 8 * cols).set(randomFloats(2, 8 * cols));
      allocator.exports.adakv_threads_task_counts(counts, 16);
      const perThread = [0, 0, 0];
      // On a busy machine a worker may miss a few jobs; over many it must take part.
      for (let job = 0; job < 400 && (perThread[1] === 0 || perThread[2] === 0); job++) {
        expect(allocator.exports.adakv_kernel_matmul(0, w, rows, cols, x, 8, out)).toBe(0);
        expect(allocator.exports.adakv_threads_task_counts(counts, 16)).toBe(3);
        allocator.i32(counts, 3).forEach((n, t) => (perThread[t]! += n));
      }
      expect(perThread[1]).toBeGreaterThan(0);
      expect(perThread[2]).toBeGreaterThan(0);
    });
  });

  describe('typed errors that leave every sequence as it was', () => {
    it('rejects unknown types, wrong byte lengths, bad shapes and quantized norms', () => {
      const weights = randomWeights(config, 700);
      const code = (action: () => unknown) => {
        try {
          action();
        } catch (error) {
          expect(error).toBeInstanceOf(AllocatorError);
          return (error as AllocatorError).code;
        }
        return 'none';
      };
      const layer0 = weights.layers[0]!;
      const withLayer = (patch: object) => ({ ...weights, layers: [{ ...layer0, ...patch }, weights.layers[1]!] });
      expect(code(() => single.loadModel(config, withLayer({ wq: { type: 'q5_K', bytes: new Uint8Array(4) } }) as never))).toBe('UNSUPPORTED_TYPE');
      expect(code(() => single.loadModel(config, withLayer({ wq: { type: 'q8_0', bytes: new Uint8Array(100) } }) as never))).toBe('INVALID_ARGUMENT');
      expect(code(() => single.loadModel(config, withLayer({ wq: new Float32Array(5) }) as never))).toBe('INVALID_ARGUMENT');
      expect(code(() => single.loadModel(config, withLayer({ ffnNorm: { type: 'f16', bytes: new Uint8Array(2 * config.dim) } }) as never))).toBe('UNSUPPORTED_TYPE');
      expect(code(() => single.loadModel({ ...config, headDim: 15 }, weights))).toBe('INVALID_ARGUMENT');
      expect(code(() => single.loadModel({ ...config, layers: 3 }, weights))).toBe('INVALID_ARGUMENT');
      // q4_K needs rows of 256 weights; this model's rows are 64.
      expect(code(() => single.loadModel(config, weights, { quantize: 'q4_K' }))).toBe('INVALID_ARGUMENT');
    });

    it('token out of vocab, position past context, exhausted pool, foreign pool: errors, nothing appended', () => {
      const weights = randomWeights(config, 800);
      const model = single.loadModel(config, weights);
      const code = (action: () => unknown) => {
        try {
          action();
        } catch (error) {
          expect(error).toBeInstanceOf(AllocatorError);
          return (error as AllocatorError).code;
        }
        return 'none';
      };
      // 2 layers x 2 KV heads x ceil(13 / 4) blocks = 16 for the prompt; then 4 more per 4 tokens.
      const pool = single.createPool({ headDim: config.headDim, blockSize: 4, maxBlocks: 20 });
      const sequence = pool.addSequence(config.layers, config.kvHeads);
      expect(code(() => model.prefill(pool, sequence, [1, 2, 50]))).toBe('OUT_OF_RANGE');
      expect(code(() => model.prefill(pool, sequence, Array.from({ length: 41 }, () => 1)))).toBe('OUT_OF_RANGE');
      expect(pool.length(sequence, 0, 0)).toBe(0);
      model.prefill(pool, sequence, prompt);
      expect(code(() => model.prefill(pool, sequence, prompt))).toBe('INVALID_ARGUMENT'); // not empty
      const before = pool.stats();
      expect(code(() => model.decode(pool, sequence, 50, 13))).toBe('OUT_OF_RANGE');
      expect(code(() => model.decode(pool, sequence, -1, 13))).toBe('OUT_OF_RANGE');
      expect(code(() => model.decode(pool, sequence, 1, 40))).toBe('OUT_OF_RANGE');
      expect(code(() => model.decodeBatch(pool, [{ sequence, token: 1, position: 13 }, { sequence, token: 2, position: 14 }]))).toBe('INVALID_ARGUMENT');
      expect(code(() => model.decode(pool, sequence + 1, 1, 13))).toBe('INVALID_HANDLE');
      expect(pool.stats()).toEqual(before);
      // Each head holds 13 rows in 4 blocks; rows 14..16 fit, row 17 needs 4 new blocks: only 4 are left.
      for (let p = 13; p < 16; p++) model.decode(pool, sequence, 1, p);
      model.decode(pool, sequence, 1, 16); // takes the last 4 blocks
      const full = pool.stats();
      for (let p = 17; p < 20; p++) model.decode(pool, sequence, 1, p);
      const other = pool.addSequence(config.layers, config.kvHeads);
      expect(code(() => model.prefill(pool, other, [1]))).toBe('POOL_EXHAUSTED');
      expect(code(() => model.decode(pool, sequence, 1, 20))).toBe('POOL_EXHAUSTED');
      expect(pool.length(sequence, 1, 1)).toBe(20);
      expect(pool.length(other, 0, 0)).toBe(0);
      expect(pool.stats().usedBlocks).toBe(full.usedBlocks);
      pool.check();
      const foreign = threaded.createPool({ headDim: config.headDim });
      expect(code(() => model.prefill(foreign, foreign.addSequence(config.layers, config.kvHeads), prompt))).toBe('INVALID_ARGUMENT');
      const wrongShape = pool.addSequence(1, config.kvHeads);
      expect(code(() => model.prefill(pool, wrongShape, prompt))).toBe('INVALID_ARGUMENT');
      model.dispose();
      expect(code(() => model.decode(pool, sequence, 1, 20))).toBe('INVALID_HANDLE');
    });
  });
});
