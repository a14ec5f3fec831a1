// Batched decode throughput on stories15M: B sequences prefilled with the same prompt, then
// `WasmModel.decodeBatch` over all B at once, ms per step and tokens/s for each B, the B values
// alternated inside every round (the machine is shared and noisy: best of ROUNDS, ratios from one
// process). The logits are returned as @adakv/core's wasm backend asks for them when a step samples
// (`decodeBatch(pool, steps)` with its default `logits: true`), so the figures include copying them
// out; greedy steps (logits: false, argmax: true) read the classifier screen up to 4 sequences.
//   node --experimental-wasm-relaxed-simd bench/decode-batch.mjs [--threads 2] [--weights f32] [--relaxed|--plain]
import { Engine, relaxedSimdSupported } from '../dist/index.js';
import { PROMPT_TOKENS, loadStories15M } from './stories15m.mjs';
import { typedWeights } from './typed-weights.mjs';

export const BATCHES = [1, 2, 4, 8, 12, 16];
const STEPS = 12;
const ROUNDS = 7;

/** Prefills B sequences, times STEPS batched steps; returns the mean ms per step (sequences removed after). */
function timeBatch(model, pool, config, batch) {
  const sequences = [];
  let tokens = [];
  for (let i = 0; i < batch; i++) {
    const sequence = pool.addSequence(config.layers, config.kvHeads);
    const { logits } = model.prefill(pool, sequence, PROMPT_TOKENS);
    sequences.push(sequence);
    tokens.push(model.argmax(logits));
  }
  // One step untimed (first touch of this batch's work buffers), then STEPS timed.
  // Only the decodeBatch call is timed (not the greedy pick in JS); ms per step is the mean over STEPS.
  let position = PROMPT_TOKENS.length;
  let elapsed = 0;
  const step = () => {
    const steps = sequences.map((sequence, i) => ({ sequence, token: tokens[i], position }));
    const start = performance.now();
    const { logits } = model.decodeBatch(pool, steps);
    elapsed += performance.now() - start;
    position++;
    tokens = tokens.map((_, i) => {
      let best = 0;
      const row = logits.subarray(i * config.vocabSize, (i + 1) * config.vocabSize);
      for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
      return best;
    });
  };
  step();
  elapsed = 0;
  for (let s = 0; s < STEPS; s++) step();
  for (const sequence of sequences) pool.removeSequence(sequence);
  return elapsed / STEPS;
}

export async function benchDecodeBatch({ threads = 2, weights: type = 'f32', relaxed = relaxedSimdSupported(), batches = BATCHES, rounds = ROUNDS } = {}) {
  const { config, weights } = loadStories15M();
  const engine = await Engine.load({ threads, relaxedSimd: relaxed });
  const model = engine.loadModel(config, typedWeights(config, weights, type));
  const pool = engine.createPool({ headDim: config.headDim });
  const ms = new Map(batches.map((b) => [b, Infinity]));
  for (const b of batches) timeBatch(model, pool, config, b); // warm-up
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so no B always runs first after the prefills.
    const order = round % 2 === 0 ? batches : [...batches].reverse();
    for (const b of order) ms.set(b, Math.min(ms.get(b), timeBatch(model, pool, config, b)));
  }
  const variant = engine.variant;
  const actualThreads = engine.threads;
  model.dispose();
  engine.dispose();
  const rows = batches.map((b) => ({ batch: b, ms: ms.get(b), tokensPerSecond: (b * 1000) / ms.get(b) }));
  const base = rows.find((r) => r.batch === 2) ?? rows[0];
  const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize } = config;
  const macsPerToken = layers * dim * (2 * queryHeads * headDim + 2 * kvHeads * headDim + 3 * hiddenDim) + vocabSize * dim;
  return {
    weights: type,
    threads: actualThreads,
    variant,
    steps: STEPS,
    rounds,
    macsPerToken,
    rows: rows.map((r) => ({ ...r, vsTwo: r.tokensPerSecond / base.tokensPerSecond })),
  };
}

export function printDecodeBatch(result, format) {
  console.log(`\n### Batched decode, stories15M ${result.weights}, ${result.threads} threads, ${result.variant} (mean of ${result.steps} steps, best of ${result.rounds} rounds)\n`);
  console.log('| sequences B | ms per step | tokens/s | vs B = 2 |');
  console.log('| ---: | ---: | ---: | ---: |');
  for (const r of result.rows) console.log(`| ${r.batch} | ${format(r.ms, 2)} | ${format(r.tokensPerSecond, 0)} | ${format(r.vsTwo, 2)}x |`);
  const macs = result.macsPerToken;
  const best = result.rows.reduce((a, r) => (r.tokensPerSecond > a.tokensPerSecond ? r : a));
  console.log(`\nWeights x tokens: ${format((best.tokensPerSecond * macs) / 1e9, 1)} GMAC/s at B = ${best.batch} (${format(macs / 1e6, 1)} M multiply-adds per token in the matrix products).`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argument = (name) => {
    const index = process.argv.indexOf(name);
    return index > 0 ? process.argv[index + 1] : undefined;
  };
  const options = {};
  if (argument('--threads')) options.threads = Number(argument('--threads'));
  if (argument('--weights')) options.weights = argument('--weights');
  if (process.argv.includes('--plain')) options.relaxed = false;
  if (process.argv.includes('--relaxed')) options.relaxed = true;
  const { format } = await import('./timing.mjs');
  printDecodeBatch(await benchDecodeBatch(options), format);
}
