// Helpers for the engine tests: direct calls into the kernel exports, and f64 reference twins written
// plainly (no SIMD, no blocking, sums in double precision).
import { type Allocator, TENSOR_TYPE_IDS, type TensorType, dequantizeTensor, quantizeTensor } from '../src/index.js';
import { randomFloats } from './helpers.js';

export { randomFloats };

/** Runs `weights` ([rows][cols] of `type`) times x [tokens][cols] through adakv_kernel_matmul. */
export function wasmMatmul(allocator: Allocator, type: TensorType, weights: Uint8Array, rows: number, cols: number, x: Float32Array, tokens: number): Float32Array {
  const [w, xp, out] = allocator.scratch.regions(weights.byteLength, x.byteLength, rows * tokens * 4) as [number, number, number];
  allocator.u8(w, weights.byteLength).set(weights);
  allocator.f32(xp, x.length).set(x);
  const status = allocator.exports.adakv_kernel_matmul(TENSOR_TYPE_IDS[type], w, rows, cols, xp, tokens, out);
  if (status < 0) throw new Error(`adakv_kernel_matmul: status ${status}`);
  return allocator.f32(out, rows * tokens).slice();
}

/** out[t][o] = sum_i w[o][i] x[t][i] in f64 over f32 (already dequantized) weights. */
export function referenceMatmul(w: Float32Array, rows: number, cols: number, x: Float32Array, tokens: number): Float64Array {
  const out = new Float64Array(rows * tokens);
  for (let t = 0; t < tokens; t++) {
    for (let o = 0; o < rows; o++) {
      let sum = 0;
      for (let i = 0; i < cols; i++) sum += w[o * cols + i]! * x[t * cols + i]!;
      out[t * rows + o] = sum;
    }
  }
  return out;
}

/** sum_i |w[o][i] x[t][i]| per output: the scale an absolute error is measured against. */
export function magnitude(w: Float32Array, rows: number, cols: number, x: Float32Array, tokens: number): Float64Array {
  const out = new Float64Array(rows * tokens);
  for (let t = 0; t < tokens; t++) {
    for (let o = 0; o < rows; o++) {
      let sum = 0;
      for (let i = 0; i < cols; i++) sum += Math.abs(w[o * cols + i]! * x[t * cols + i]!);
      out[t * rows + o] = sum;
    }
  }
  return out;
}

/** The bytes of random weights in `type`, and their dequantized f32 values (what the kernel must use). */
export function randomTensor(type: TensorType, rows: number, cols: number, seed: number): { bytes: Uint8Array; values: Float32Array } {
  const f32 = randomFloats(seed, rows * cols);
  const bytes = quantizeTensor(type, f32, rows, cols);
  return { bytes, values: dequantizeTensor(type, bytes, rows, cols) };
}

// ---- f64 reference forward pass -------------------------------------------------------------------

export interface ReferenceConfig {
  dim: number;
  hiddenDim: number;
  layers: number;
  queryHeads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  contextLength: number;
  normEps: number;
  /** RoPE pairs: adjacent (2j, 2j + 1), the default, or NeoX rotate-half (j, j + headDim / 2). */
  ropeStyle?: 'adjacent' | 'neox';
}

/** f32 weights (already dequantized), the shapes of EngineModelWeights. */
export interface ReferenceWeights {
  tokenEmbedding: Float32Array;
  layers: Array<Record<'attentionNorm' | 'wq' | 'wk' | 'wv' | 'wo' | 'ffnNorm' | 'w1' | 'w2' | 'w3', Float32Array> & Partial<Record<'bq' | 'bk' | 'bv', Float32Array>>>;
  finalNorm: Float32Array;
  classifier: Float32Array;
  ropeCos: Float32Array;
  ropeSin: Float32Array;
}

function matvec(w: Float32Array, rows: number, cols: number, x: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let sum = 0;
    for (let i = 0; i < cols; i++) sum += w[o * cols + i]! * x[i]!;
    out[o] = sum;
  }
  return out;
}

function rmsnorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let squares = 0;
  for (const v of x) squares += v * v;
  const scale = 1 / Math.sqrt(squares / x.length + eps);
  return x.map((v, i) => weight[i]! * scale * v);
}

/** Pair j of each head: (2j, 2j + 1) adjacent, (j, j + headDim / 2) NeoX; both turn by the table's angle j. */
function rope(v: Float64Array, heads: number, headDim: number, position: number, cos: Float32Array, sin: Float32Array, style: 'adjacent' | 'neox'): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      const c = cos[position * half + j]!;
      const s = sin[position * half + j]!;
      const i = style === 'adjacent' ? h * headDim + 2 * j : h * headDim + j;
      const partner = style === 'adjacent' ? i + 1 : i + half;
      const v0 = v[i]!;
      const v1 = v[partner]!;
      v[i] = v0 * c - v1 * s;
      v[partner] = v0 * s + v1 * c;
    }
  }
}

function addBias(v: Float64Array, bias: Float32Array | undefined): void {
  if (bias) for (let i = 0; i < v.length; i++) v[i]! += bias[i]!;
}

/**
 * A whole sequence in f64: tokens at positions[t] (prefill = 0..n-1), each attending causally to every
 * earlier token of the sequence and itself (Q/K/V biases added after the products when the layer has
 * them, RoPE in the config's style). Returns each step's logits and each layer's post-RoPE K/V/Q.
 */
export function referenceForward(config: ReferenceConfig, w: ReferenceWeights, tokens: number[], positions = tokens.map((_, t) => t)) {
  const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, normEps } = config;
  const group = queryHeads / kvHeads;
  const keys: Float64Array[][] = Array.from({ length: layers }, () => []);
  const values: Float64Array[][] = Array.from({ length: layers }, () => []);
  const queries: Float64Array[][] = Array.from({ length: layers }, () => []);
  const logits: Float64Array[] = [];
  tokens.forEach((token, t) => {
    let x = Float64Array.from(w.tokenEmbedding.subarray(token * dim, (token + 1) * dim));
    for (let l = 0; l < layers; l++) {
      const lw = w.layers[l]!;
      const normed = rmsnorm(x, lw.attentionNorm, normEps);
      const q = matvec(lw.wq, queryHeads * headDim, dim, normed);
      const k = matvec(lw.wk, kvHeads * headDim, dim, normed);
      const v = matvec(lw.wv, kvHeads * headDim, dim, normed);
      addBias(q, lw.bq);
      addBias(k, lw.bk);
      addBias(v, lw.bv);
      const style = config.ropeStyle ?? 'adjacent';
      rope(q, queryHeads, headDim, positions[t]!, w.ropeCos, w.ropeSin, style);
      rope(k, kvHeads, headDim, positions[t]!, w.ropeCos, w.ropeSin, style);
      keys[l]!.push(k);
      values[l]!.push(v);
      queries[l]!.push(q);
      const attention = new Float64Array(queryHeads * headDim);
      for (let h = 0; h < queryHeads; h++) {
        const kv = Math.floor(h / group) * headDim;
        const scores = keys[l]!.map((key) => {
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += q[h * headDim + i]! * key[kv + i]!;
          return dot / Math.sqrt(headDim);
        });
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((a, b) => a + b, 0);
        values[l]!.forEach((value, s) => {
          for (let i = 0; i < headDim; i++) attention[h * headDim + i]! += (weights[s]! / total) * value[kv + i]!;
        });
      }
      const projected = matvec(lw.wo, dim, queryHeads * headDim, attention);
      x = x.map((v, i) => v + projected[i]!);
      const normed2 = rmsnorm(x, lw.ffnNorm, normEps);
      const gate = matvec(lw.w1, hiddenDim, dim, normed2);
      const up = matvec(lw.w3, hiddenDim, dim, normed2);
      const hidden = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = matvec(lw.w2, dim, hiddenDim, hidden);
      x = x.map((v, i) => v + down[i]!);
    }
    logits.push(matvec(w.classifier, vocabSize, dim, rmsnorm(x, w.finalNorm, normEps)));
  });
  return { logits, keys, values, queries };
}

/** RoPE tables as llama2.c computes them (f32 angles). */
export function ropeTables(headDim: number, contextLength: number, theta = 10000): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(contextLength * half);
  const sin = new Float32Array(contextLength * half);
  const f = Math.fround;
  for (let j = 0; j < half; j++) {
    const freq = f(1 / f(Math.pow(theta, f((2 * j) / headDim))));
    for (let p = 0; p < contextLength; p++) {
      const angle = f(p * freq);
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function maxAbs(a: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]!));
  return max;
}

/** A random LLaMA-shaped model of shape `c` (tied classifier unless `tied` is false; Q/K/V biases when asked). */
export function randomWeights(c: ReferenceConfig, seed: number, tied = true, biases = false): ReferenceWeights {
  let s = seed;
  const matrix = (rows: number, cols: number, scale = 1 / Math.sqrt(cols)) => randomFloats(s++, rows * cols).map((v) => v * scale * 1.7);
  const norm = () => randomFloats(s++, c.dim).map((v) => 1 + 0.2 * v);
  const qDim = c.queryHeads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const tokenEmbedding = matrix(c.vocabSize, c.dim, 1);
  const { cos, sin } = ropeTables(c.headDim, c.contextLength);
  return {
    tokenEmbedding,
    layers: Array.from({ length: c.layers }, () => ({
      attentionNorm: norm(),
      wq: matrix(qDim, c.dim),
      wk: matrix(kvDim, c.dim),
      wv: matrix(kvDim, c.dim),
      wo: matrix(c.dim, qDim),
      ffnNorm: norm(),
      w1: matrix(c.hiddenDim, c.dim),
      w2: matrix(c.dim, c.hiddenDim),
      w3: matrix(c.hiddenDim, c.dim),
      ...(biases ? { bq: randomFloats(s++, qDim).map((v) => v * 0.8), bk: randomFloats(s++, kvDim).map((v) => v * 0.8), bv: randomFloats(s++, kvDim).map((v) => v * 0.5) } : {}),
    })),
    finalNorm: norm(),
    classifier: tied ? tokenEmbedding : matrix(c.vocabSize, c.dim, 1),
    ropeCos: cos,
    ropeSin: sin,
  };
}
