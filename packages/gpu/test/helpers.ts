import { afterAll, expect } from 'vitest';
import { type GpuContext, requestGpu } from '../src/device.js';
import { Dispatcher } from '../src/dispatcher.js';
import type { LlamaShape, LlamaWeights } from '../src/llama-decoder.js';

/** A device (and a dispatcher on it) for one test file, destroyed after its tests. */
export async function testGpu(): Promise<{ gpu: GpuContext; d: Dispatcher }> {
  const gpu = await requestGpu();
  afterAll(() => gpu.device.destroy());
  return { gpu, d: new Dispatcher(gpu) };
}

/** A seeded generator of numbers in [-1, 1) (an LCG: enough for test data, same on every run). */
export function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** `n` seeded floats in [-scale, scale). */
export function floats(n: number, seed: number, scale = 1): Float32Array {
  const rnd = random(seed);
  return Float32Array.from({ length: n }, () => rnd() * scale);
}

/** A storage buffer holding `data`, read back later with {@link readBack}. */
export function upload(d: Dispatcher, data: Float32Array): GPUBuffer {
  return d.temp(data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, data);
}

/** A storage buffer of `floats` floats that kernels write and tests read back. */
export function output(d: Dispatcher, floats: number): GPUBuffer {
  return d.temp(floats * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
}

export async function readBack(d: Dispatcher, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  return new Float32Array(await d.read(buffer, floats * 4));
}

/** Every `actual` within 1e-4 of `expected`, relative to `max(scale, |expected|)`. */
export function expectClose(actual: Float32Array, expected: ArrayLike<number>, scale: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(scale, Math.abs(expected[i]!)));
  expect(worst).toBeLessThanOrEqual(1e-4);
}

/** The CPU twin: plain arrays per head, softmax attention in f64. */
export class TwinCache {
  heads: { keys: number[][]; values: number[][]; positions: number[] }[];
  constructor(readonly kvHeads: number, readonly headDim: number) {
    this.heads = Array.from({ length: kvHeads }, () => ({ keys: [], values: [], positions: [] }));
  }
  append(keys: Float32Array, values: Float32Array, positions: Int32Array) {
    positions.forEach((p, t) => this.heads.forEach((h, i) => {
      const at = (t * this.kvHeads + i) * this.headDim;
      h.keys.push(Array.from(keys.subarray(at, at + this.headDim)));
      h.values.push(Array.from(values.subarray(at, at + this.headDim)));
      h.positions.push(p);
    }));
  }
  compact(kept: Int32Array[]) {
    this.heads = this.heads.map((h, i) => ({ keys: [...kept[i]!].map((k) => h.keys[k]!), values: [...kept[i]!].map((k) => h.values[k]!), positions: [...kept[i]!].map((k) => h.positions[k]!) }));
  }
  attend(queries: Float32Array, group: number): Float32Array {
    const out = new Float32Array(queries.length);
    for (let q = 0; q < queries.length / this.headDim; q++) {
      const h = this.heads[Math.floor(q / group)]!;
      const logits = h.keys.map((k) => k.reduce((s, v, i) => s + v * queries[q * this.headDim + i]!, 0) / Math.sqrt(this.headDim));
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < this.headDim; i++) out[q * this.headDim + i] = h.values.reduce((s, v, r) => s + (e[r]! / sum) * v[i]!, 0);
    }
    return out;
  }
}

/** Seeded weights for a small LLaMA of `shape` (RoPE tables as llama2.c computes them). */
export function randomLlama(shape: LlamaShape, seed: number): LlamaWeights {
  const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength } = shape;
  const half = headDim / 2;
  const angle = (i: number) => Math.floor(i / half) * 10000 ** (-(2 * (i % half)) / headDim);
  return {
    tokenEmbedding: floats(vocabSize * dim, seed),
    layers: Array.from({ length: layers }, (_, l) => ({
      attentionNorm: floats(dim, seed + 10 * l + 1, 1),
      wq: floats(queryHeads * headDim * dim, seed + 10 * l + 2, 0.5),
      wk: floats(kvHeads * headDim * dim, seed + 10 * l + 3, 0.5),
      wv: floats(kvHeads * headDim * dim, seed + 10 * l + 4, 0.5),
      wo: floats(dim * queryHeads * headDim, seed + 10 * l + 5, 0.5),
      ffnNorm: floats(dim, seed + 10 * l + 6, 1),
      w1: floats(hiddenDim * dim, seed + 10 * l + 7, 0.5),
      w2: floats(dim * hiddenDim, seed + 10 * l + 8, 0.5),
      w3: floats(hiddenDim * dim, seed + 10 * l + 9, 0.5),
    })),
    finalNorm: floats(dim, seed + 99),
    classifier: floats(vocabSize * dim, seed + 98),
    ropeCos: Float32Array.from({ length: contextLength * half }, (_, i) => Math.cos(angle(i))),
    ropeSin: Float32Array.from({ length: contextLength * half }, (_, i) => Math.sin(angle(i))),
  };
}

/**
 * `randomLlama` with seeded Q/K/V biases in every layer (as Qwen 2 has them), scaled by `scale`.
 */
export function withBiases(shape: LlamaShape, weights: LlamaWeights, seed: number, scale = 0.5): LlamaWeights {
  const { queryHeads, kvHeads, headDim } = shape;
  return {
    ...weights,
    layers: weights.layers.map((layer, l) => ({
      ...layer,
      bq: floats(queryHeads * headDim, seed + 3 * l, scale),
      bk: floats(kvHeads * headDim, seed + 3 * l + 1, scale),
      bv: floats(kvHeads * headDim, seed + 3 * l + 2, scale),
    })),
  };
}

/** What {@link twinForward} computes: the logits after the last token, and every layer's post-RoPE K/V. */
export interface TwinForward {
  /** Logits after the last token. */
  logits: Float64Array;
  /** Per layer, `[tokens][kvHeads][headDim]` post-RoPE keys. */
  keys: Float64Array[];
  /** Per layer, `[tokens][kvHeads][headDim]` values. */
  values: Float64Array[];
  /** Per layer, `[tokens][queryHeads][headDim]` post-RoPE queries. */
  queries: Float64Array[];
}

/**
 * The CPU twin of the LLaMA forward pass in f64, token by token at positions 0..n-1, as core's CPU pass
 * computes it: RMSNorm, q/k/v projections plus the optional biases, RoPE in the shape's style
 * (adjacent pairs or NeoX rotate-half) from the f32 tables, GQA causal attention, output projection
 * and residual, SwiGLU feed-forward and residual, final norm, classifier.
 */
export function twinForward(shape: LlamaShape, w: LlamaWeights, tokens: readonly number[]): TwinForward {
  const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, normEps } = shape;
  const n = tokens.length;
  const half = headDim / 2;
  const group = queryHeads / kvHeads;
  const [qDim, kvDim] = [queryHeads * headDim, kvHeads * headDim];
  const keys = Array.from({ length: layers }, () => new Float64Array(n * kvDim));
  const values = Array.from({ length: layers }, () => new Float64Array(n * kvDim));
  const queries = Array.from({ length: layers }, () => new Float64Array(n * qDim));
  const norm = (x: Float64Array, weight: Float32Array) => {
    const ss = x.reduce((s, v) => s + v * v, 0) / x.length + normEps;
    return x.map((v, i) => (weight[i]! * v) / Math.sqrt(ss));
  };
  const project = (m: Float32Array, x: Float64Array, out: number, bias?: Float32Array) =>
    Float64Array.from({ length: out }, (_, o) => {
      let sum = bias ? bias[o]! : 0;
      for (let i = 0; i < x.length; i++) sum += m[o * x.length + i]! * x[i]!;
      return sum;
    });
  const rope = (v: Float64Array, heads: number, position: number) => {
    const [stride, partner] = shape.ropeStyle === 'neox' ? [1, half] : [2, 1];
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < half; j++) {
        const [c, s] = [w.ropeCos[position * half + j]!, w.ropeSin[position * half + j]!];
        const i = h * headDim + stride * j;
        const [v0, v1] = [v[i]!, v[i + partner]!];
        v[i] = v0 * c - v1 * s;
        v[i + partner] = v0 * s + v1 * c;
      }
    }
  };
  let x = new Float64Array(dim);
  for (let t = 0; t < n; t++) {
    x = Float64Array.from(w.tokenEmbedding.subarray(tokens[t]! * dim, (tokens[t]! + 1) * dim));
    for (let l = 0; l < layers; l++) {
      const L = w.layers[l]!;
      const xn = norm(x, L.attentionNorm);
      const q = project(L.wq, xn, qDim, L.bq);
      const k = project(L.wk, xn, kvDim, L.bk);
      const v = project(L.wv, xn, kvDim, L.bv);
      rope(q, queryHeads, t);
      rope(k, kvHeads, t);
      queries[l]!.set(q, t * qDim);
      keys[l]!.set(k, t * kvDim);
      values[l]!.set(v, t * kvDim);
      const attention = new Float64Array(qDim);
      for (let h = 0; h < queryHeads; h++) {
        const kv = Math.floor(h / group) * headDim;
        const logits = Array.from({ length: t + 1 }, (_, s) => {
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += q[h * headDim + i]! * keys[l]![s * kvDim + kv + i]!;
          return dot / Math.sqrt(headDim);
        });
        const m = Math.max(...logits);
        const e = logits.map((z) => Math.exp(z - m));
        const total = e.reduce((a, b) => a + b, 0);
        e.forEach((weight, s) => {
          for (let i = 0; i < headDim; i++) attention[h * headDim + i]! += (weight / total) * values[l]![s * kvDim + kv + i]!;
        });
      }
      const o = project(L.wo, attention, dim);
      x = x.map((value, i) => value + o[i]!);
      const xn2 = norm(x, L.ffnNorm);
      const gate = project(L.w1, xn2, hiddenDim);
      const up = project(L.w3, xn2, hiddenDim);
      const hidden = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = project(L.w2, hidden, dim);
      x = x.map((value, i) => value + down[i]!);
    }
  }
  return { logits: project(w.classifier, norm(x, w.finalNorm), vocabSize), keys, values, queries };
}
