// A long prompt prefilled whole, in chunks at offsets (WasmModel.prefill's `start`), and the way
// @adakv/core continued a chunked prompt before the engine could (one decode step per token after
// the first chunk); prefill tokens/s of each, in one process, best of ROUNDS interleaved rounds.
//   node --experimental-wasm-relaxed-simd bench/prefill-chunks.mjs [--threads 2] [--weights q8_0]
//        [--tokens 1024] [--plain] [--old DIR]
// The model is a random LLaMA-shaped one with a long context (stories15M has 256 positions): dim 512,
// 4 layers, 8 query heads over 2 KV heads of 64, hidden 1376, vocabulary 4096. `--old DIR` also times
// the whole prefill of another build of this package (DIR holds its dist/ and wasm/), e.g. the previous
// release, to compare the prefill attention of the two.
import { Engine, quantizeTensor } from '../dist/index.js';
import { randomFloats } from './timing.mjs';

const argument = (name, fallback) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : fallback;
};
const threads = Number(argument('--threads', '1'));
const weightType = argument('--weights', 'f32');
const tokens = Number(argument('--tokens', '1024'));
const relaxedSimd = !process.argv.includes('--plain');
const oldDir = argument('--old', undefined);
const ROUNDS = Number(argument('--rounds', '3'));
const CHUNKS = [512, 256, 128];

const config = { dim: 512, hiddenDim: 1376, layers: 4, queryHeads: 8, kvHeads: 2, headDim: 64, vocabSize: 4096, contextLength: 2048, normEps: 1e-5 };

function randomModel() {
  const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength } = config;
  let seed = 1;
  const matrix = (rows, cols) => {
    const values = randomFloats(seed++, rows * cols).map((v) => (v * 1.7) / Math.sqrt(cols));
    return weightType === 'f32' ? values : { type: weightType, bytes: quantizeTensor(weightType, values, rows, cols) };
  };
  const norm = () => randomFloats(seed++, dim).map((v) => 1 + 0.2 * v);
  const half = headDim / 2;
  const ropeCos = new Float32Array(contextLength * half);
  const ropeSin = new Float32Array(contextLength * half);
  for (let p = 0; p < contextLength; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p * Math.pow(10000, (-2 * j) / headDim);
      ropeCos[p * half + j] = Math.cos(angle);
      ropeSin[p * half + j] = Math.sin(angle);
    }
  }
  const embedding = matrix(vocabSize, dim);
  return {
    tokenEmbedding: embedding,
    classifier: embedding,
    finalNorm: norm(),
    ropeCos,
    ropeSin,
    layers: Array.from({ length: layers }, () => ({
      attentionNorm: norm(),
      wq: matrix(queryHeads * headDim, dim),
      wk: matrix(kvHeads * headDim, dim),
      wv: matrix(kvHeads * headDim, dim),
      wo: matrix(dim, queryHeads * headDim),
      ffnNorm: norm(),
      w1: matrix(hiddenDim, dim),
      w2: matrix(dim, hiddenDim),
      w3: matrix(hiddenDim, dim),
    })),
  };
}

const prompt = Array.from({ length: tokens }, (_, t) => (t * 7919 + 13) % config.vocabSize);
const weights = randomModel();

async function setup(EngineClass, wasm) {
  const engine = await EngineClass.load({ threads, relaxedSimd, ...(wasm ? { wasm } : {}) });
  return { engine, model: engine.loadModel(config, weights), pool: engine.createPool({ headDim: config.headDim }) };
}

const current = await setup(Engine);
const rows = new Map();
const record = (name, ms) => rows.set(name, Math.min(rows.get(name) ?? Infinity, ms));
let old;
if (oldDir) {
  const { Engine: OldEngine } = await import(`${oldDir}/dist/index.js`);
  const file = (name) => new URL(`file://${oldDir}/wasm/${name}`);
  old = await setup(OldEngine, {
    simd: file('allocator.wasm'),
    threads: file('allocator.threads.wasm'),
    relaxed: file('allocator.relaxed.wasm'),
    relaxedThreads: file('allocator.relaxed-threads.wasm'),
  });
}

/** Milliseconds of `run(pool, sequence)` on a fresh sequence of `target`'s pool, and what it returned. */
function timed(target, run) {
  const sequence = target.pool.addSequence(config.layers, config.kvHeads);
  const start = performance.now();
  const logits = run(target.pool, sequence);
  const ms = performance.now() - start;
  target.pool.removeSequence(sequence);
  return { ms, logits };
}

let reference;
for (let round = 0; round < ROUNDS; round++) {
  const whole = timed(current, (pool, s) => current.model.prefill(pool, s, prompt).logits);
  record('whole prompt, one call', whole.ms);
  reference ??= whole.logits;
  for (const chunk of CHUNKS) {
    const result = timed(current, (pool, s) => {
      let logits;
      for (let start = 0; start < tokens; start += chunk) logits = current.model.prefill(pool, s, prompt.slice(start, start + chunk), { start }).logits;
      return logits;
    });
    record(`chunks of ${chunk} at their offsets`, result.ms);
    if (result.logits.some((v, i) => v !== reference[i])) throw new Error(`chunks of ${chunk}: logits differ from the whole prefill`);
  }
  // what core did for start > 0 before: the first chunk in one call, every later token one decode step
  const first = CHUNKS[0];
  const stepwise = timed(current, (pool, s) => {
    let logits = current.model.prefill(pool, s, prompt.slice(0, first)).logits;
    for (let t = first; t < tokens; t++) logits = current.model.decode(pool, s, prompt[t], t);
    return logits;
  });
  record(`first ${first} in one call, then one decode step per token (the former fallback)`, stepwise.ms);
  if (stepwise.logits.some((v, i) => v !== reference[i])) throw new Error('decode steps: logits differ from the whole prefill');
  if (old) record('whole prompt, one call, the --old build', timed(old, (pool, s) => old.model.prefill(pool, s, prompt).logits).ms);
}

console.log(`${tokens}-token prompt, ${weightType} weights, ${threads} thread(s), ${current.engine.variant}; best of ${ROUNDS} rounds\n`);
console.log('| prefill | ms | tokens/s | vs whole |');
console.log('| --- | ---: | ---: | ---: |');
const wholeMs = rows.get('whole prompt, one call');
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(0)} | ${((tokens * 1000) / ms).toFixed(0)} | ${(wholeMs / ms).toFixed(2)}x |`);
current.engine.dispose();
old?.engine.dispose();
