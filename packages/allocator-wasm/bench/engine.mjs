// The engine on stories15M against llama2.c's own llama2.wasm in the same run: prefill and decode
// tokens/s on 1 and 2 threads, plain and relaxed SIMD, with f32 weights and with q8_0/q4_0 weights
// quantized by this package's reference quantizer; resident weight bytes per parameter; whether the
// greedy tokens equal llama2.c's. Greedy decode reads an f32 classifier through its screen (the f32
// rows without it come along for comparison). Run with --experimental-wasm-relaxed-simd (the bench script does) for
// the relaxed rows.
// Each figure is the best of ROUNDS runs (prefill: of ROUNDS x PREFILLS), engine and peer interleaved
// (the machine is shared and noisy: best-of measures each engine undisturbed; ratios come from one
// process).
import { Engine, relaxedSimdSupported } from '../dist/index.js';
import { PROMPT_TOKENS, loadPeer, loadStories15M } from './stories15m.mjs';
import { typedWeights } from './typed-weights.mjs';

const STEPS = 64;
const ROUNDS = 7;
// Prefills per round (one takes ~50 ms, short enough for one scheduler hiccup to spoil it).
const PREFILLS = 3;

/** One engine configuration, ready to run the benchmark prompt once per call. */
async function engineSetup(config, weights, threads, relaxedSimd, classifierScreen = true) {
  const engine = await Engine.load({ threads, relaxedSimd });
  const model = engine.loadModel(config, weights, { classifierScreen });
  const pool = engine.createPool({ headDim: config.headDim });
  const run = () => {
    let prefillMs = Infinity;
    for (let i = 1; i < PREFILLS; i++) {
      const scratch = pool.addSequence(config.layers, config.kvHeads);
      const start = performance.now();
      model.prefill(pool, scratch, PROMPT_TOKENS);
      prefillMs = Math.min(prefillMs, performance.now() - start);
      pool.removeSequence(scratch);
    }
    const sequence = pool.addSequence(config.layers, config.kvHeads);
    let start = performance.now();
    const { logits } = model.prefill(pool, sequence, PROMPT_TOKENS);
    prefillMs = Math.min(prefillMs, performance.now() - start);
    let token = model.argmax(logits);
    const tokens = [token];
    start = performance.now();
    for (let i = 1; i < STEPS; i++) {
      token = model.decodeBatch(pool, [{ sequence, token, position: PROMPT_TOKENS.length + i - 1 }], { logits: false, argmax: true }).argmax[0];
      tokens.push(token);
    }
    const decodeMs = performance.now() - start;
    pool.removeSequence(sequence);
    return { prefill: (PROMPT_TOKENS.length * 1000) / prefillMs, decode: ((STEPS - 1) * 1000) / decodeMs, tokens, logits };
  };
  return { engine, model, run };
}

/** The f32 engine's prefill logits against @adakv/core's TS Transformer, when core's dist is built. */
async function twinCheck(setup) {
  let core;
  try {
    // Only to load the TS Transformer as a twin; this package does not depend on core.
    core = await import('../../core/dist/index.js');
  } catch {
    return undefined;
  }
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { peerFolder } = await import('./stories15m.mjs');
  const data = readFileSync(join(peerFolder(), 'llama2.data'));
  const model = await core.loadModel(data.subarray(0, 60816028));
  const store = new core.ReferenceStore(core.cacheGeometry(model.config));
  const { logits: expected } = await new core.Transformer(model).prefill(PROMPT_TOKENS, store);
  const { logits } = setup.run();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(logits[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

export async function benchEngine() {
  const { config, weights } = loadStories15M();
  const peer = await loadPeer();
  const setups = [];
  const relaxedModes = relaxedSimdSupported() ? [false, true] : [false];
  for (const type of ['f32', 'q8_0', 'q4_0']) {
    const typed = typedWeights(config, weights, type);
    for (const relaxed of relaxedModes) {
      for (const threads of [1, 2]) setups.push({ type, threads, ...(await engineSetup(config, typed, threads, relaxed)) });
    }
    // greedy f32 decode without the classifier screen, for comparison in the same run
    if (type === 'f32') {
      for (const threads of [1, 2]) setups.push({ type: 'f32, no screen', threads, ...(await engineSetup(config, typed, threads, relaxedModes.at(-1), false)) });
    }
  }
  peer.run(PROMPT_TOKENS, 8);
  for (const setup of setups) setup.run(); // warm up
  const best = { peer: { prefill: 0, decode: 0 } };
  let peerTokens;
  for (let round = 0; round < ROUNDS; round++) {
    const p = peer.run(PROMPT_TOKENS, STEPS);
    peerTokens ??= p.tokens;
    best.peer.prefill = Math.max(best.peer.prefill, p.prefill);
    best.peer.decode = Math.max(best.peer.decode, p.decode);
    for (const setup of setups) {
      const r = setup.run();
      setup.tokens ??= r.tokens;
      setup.prefill = Math.max(setup.prefill ?? 0, r.prefill);
      setup.decode = Math.max(setup.decode ?? 0, r.decode);
    }
  }
  const twin = await twinCheck(setups[0]);
  const rows = setups.map((s) => {
    const equal = s.tokens.findIndex((t, i) => t !== peerTokens[i]);
    return {
      weights: s.type,
      threads: s.engine.threads,
      variant: s.engine.variant,
      prefill: s.prefill,
      decode: s.decode,
      bytesPerParameter: s.model.residentWeightBytes / s.model.parameterCount,
      screenMiB: s.model.screenBytes / 2 ** 20,
      residentMiB: s.model.residentWeightBytes / 2 ** 20,
      tokensEqual: equal === -1 ? 'all' : `first ${equal}`,
    };
  });
  for (const s of setups) s.engine.dispose();
  return { steps: STEPS, promptTokens: PROMPT_TOKENS.length, rounds: ROUNDS, peer: best.peer, rows, twinRelativeDifference: twin };
}
