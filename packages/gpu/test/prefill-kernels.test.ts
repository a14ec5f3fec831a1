import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCausalAttention } from '../src/model-ops.js';
import { expectClose, floats, output, readBack, testGpu, upload } from './helpers.js';

const { d } = await testGpu();

/** Outputs are weighted means of values in [-3, 3): errors are measured relative to that scale. */
const VALUE_SCALE = 3;

interface Shape {
  tokens: number;
  queryHeads: number;
  kvHeads: number;
  headDim: number;
}

/** f64 twin: softmax(q K^T / sqrt(d)) V over keys s <= t, for every token t and query head. */
function twinCausalAttention(q: Float32Array, k: Float32Array, v: Float32Array, { tokens, queryHeads, kvHeads, headDim }: Shape): Float64Array {
  const out = new Float64Array(tokens * queryHeads * headDim);
  const group = queryHeads / kvHeads;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < queryHeads; h++) {
      const qBase = (t * queryHeads + h) * headDim;
      const kv = Math.floor(h / group) * headDim;
      const logits = Array.from({ length: t + 1 }, (_, s) => {
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += q[qBase + i]! * k[s * kvHeads * headDim + kv + i]!;
        return dot / Math.sqrt(headDim);
      });
      const max = Math.max(...logits);
      const weights = logits.map((l) => Math.exp(l - max));
      const total = weights.reduce((a, b) => a + b, 0);
      weights.forEach((weight, s) => {
        for (let i = 0; i < headDim; i++) out[qBase + i]! += (weight / total) * v[s * kvHeads * headDim + kv + i]!;
      });
    }
  }
  return out;
}

async function causalAttention(q: Float32Array, k: Float32Array, v: Float32Array, shape: Shape): Promise<Float32Array> {
  const { tokens, queryHeads, kvHeads, headDim } = shape;
  const out = output(d, tokens * queryHeads * headDim);
  encodeCausalAttention(d, upload(d, q), upload(d, k), upload(d, v), out, shape);
  return readBack(d, out, tokens * queryHeads * headDim);
}

/** The prefill kernels against f64 CPU twins: causal attention, and RMSNorm and RoPE over many tokens. */
describe('prefill kernels on WebGPU', () => {
  it('causal attention matches its twin for MHA and GQA, head dims up to 256, prompts around the 64-key tile', async () => {
    const shapes: Shape[] = [
      { tokens: 1, queryHeads: 2, kvHeads: 2, headDim: 8 },
      { tokens: 63, queryHeads: 4, kvHeads: 4, headDim: 48 },
      { tokens: 64, queryHeads: 8, kvHeads: 2, headDim: 16 },
      { tokens: 65, queryHeads: 6, kvHeads: 1, headDim: 33 },
      { tokens: 150, queryHeads: 4, kvHeads: 2, headDim: 256 },
    ];
    for (const shape of shapes) {
      const { tokens, queryHeads, kvHeads, headDim } = shape;
      const q = floats(tokens * queryHeads * headDim, tokens, 2);
      const k = floats(tokens * kvHeads * headDim, tokens + 1, 2);
      const v = floats(tokens * kvHeads * headDim, tokens + 2, VALUE_SCALE);
      expectClose(await causalAttention(q, k, v, shape), twinCausalAttention(q, k, v, shape), VALUE_SCALE);
    }
  });

  it('causal attention matches its twin on random prompts of any length, with tiny and ordinary scores', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 140 }), fc.constantFrom(1e-6, 1), fc.integer(), async (tokens, scale, seed) => {
        const shape = { tokens, queryHeads: 2, kvHeads: 1, headDim: 16 };
        const q = floats(tokens * 2 * 16, seed, scale);
        const k = floats(tokens * 16, seed + 1, scale);
        const v = floats(tokens * 16, seed + 2, VALUE_SCALE);
        expectClose(await causalAttention(q, k, v, shape), twinCausalAttention(q, k, v, shape), VALUE_SCALE);
      }),
      { numRuns: 12 },
    );
  });

  it('causal attention with very large scores picks each token\'s dominating key exactly', async () => {
    // key s = (s + 1) u and every query = c u: logits grow with s by c |u|^2 / 4 per step (thousands
    // here), so each token's softmax is one-hot on its own key, however large the logits get
    const shape = { tokens: 75, queryHeads: 4, kvHeads: 2, headDim: 16 };
    const u = floats(16, 3).map((x) => x + Math.sign(x)); // |u_i| >= 1
    const q = Float32Array.from({ length: 75 * 4 * 16 }, (_, i) => 300 * u[i % 16]!);
    const k = Float32Array.from({ length: 75 * 2 * 16 }, (_, i) => (Math.floor(i / 32) + 1) * u[i % 16]!);
    const v = floats(75 * 2 * 16, 4, VALUE_SCALE);
    const expected = Float32Array.from({ length: 75 * 4 * 16 }, (_, i) => v[Math.floor(i / 64) * 32 + Math.floor((i % 64) / 32) * 16 + (i % 16)]!);
    expect(Array.from(await causalAttention(q, k, v, shape))).toEqual(Array.from(expected));
  });

  it('refuses shapes the causal attention kernel cannot take, with the reason', () => {
    const buffer = output(d, 16);
    const attend = (shape: Shape) => () => encodeCausalAttention(d, buffer, buffer, buffer, buffer, shape);
    expect(attend({ tokens: 4, queryHeads: 2, kvHeads: 1, headDim: 260 })).toThrow(/head dim <= 256/);
    expect(attend({ tokens: 4, queryHeads: 3, kvHeads: 2, headDim: 8 })).toThrow(/multiple of KV heads/);
    expect(attend({ tokens: 0, queryHeads: 2, kvHeads: 1, headDim: 8 })).toThrow(/positive integer/);
    d.submit(); // releases the buffer
  });

  it('RMSNorm normalises each of many rows with its own scale', async () => {
    const [rows, dim, eps] = [37, 100, 1e-5];
    const x = Float32Array.from(floats(rows * dim, 5), (value, i) => value * 10 ** ((Math.floor(i / dim) % 7) - 3));
    const weight = floats(dim, 6);
    const out = output(d, rows * dim);
    d.run('rmsnorm', { dim, weightOffset: 0, eps, rows }, [upload(d, x), upload(d, weight), out], { groups: rows });
    const expected = new Float64Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * dim, (r + 1) * dim);
      const rms = Math.sqrt(row.reduce((s, value) => s + value * value, 0) / dim + eps);
      row.forEach((value, i) => (expected[r * dim + i] = (weight[i]! * value) / rms));
    }
    const actual = await readBack(d, out, rows * dim);
    for (let r = 0; r < rows; r++) {
      const scale = Math.max(...Array.from(expected.subarray(r * dim, (r + 1) * dim), Math.abs));
      expectClose(actual.subarray(r * dim, (r + 1) * dim), expected.subarray(r * dim, (r + 1) * dim), scale * 1e-3);
    }
  });

  it('RoPE rotates token t of a batch by position base + t', async () => {
    const [tokens, heads, headDim, base] = [9, 3, 8, 5];
    const half = headDim / 2;
    const context = base + tokens;
    const cos = Float32Array.from({ length: context * half }, (_, i) => Math.cos(Math.floor(i / half) * 10000 ** (-(2 * (i % half)) / headDim)));
    const sin = Float32Array.from({ length: context * half }, (_, i) => Math.sin(Math.floor(i / half) * 10000 ** (-(2 * (i % half)) / headDim)));
    const v = floats(tokens * heads * headDim, 8, 3);
    const buffer = upload(d, v);
    d.run('rope', { heads, headDim, position: base, tokens }, [buffer, upload(d, cos), upload(d, sin)], { threads: (tokens * heads * headDim) / 2 });
    const expected = Float64Array.from(v);
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < half; j++) {
          const i = (t * heads + h) * headDim + 2 * j;
          const [c, s] = [cos[(base + t) * half + j]!, sin[(base + t) * half + j]!];
          expected[i] = v[i]! * c - v[i + 1]! * s;
          expected[i + 1] = v[i]! * s + v[i + 1]! * c;
        }
      }
    }
    expectClose(await readBack(d, buffer, v.length), expected, 1);
  });
});
