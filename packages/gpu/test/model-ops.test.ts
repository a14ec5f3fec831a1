import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argmax, encodeMatmul, matmul, softmaxRows } from '../src/model-ops.js';
import { floats, testGpu } from './helpers.js';

const { gpu, d } = await testGpu();


/** CPU twins, in f64. */
function twinMatmul(a: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number): Float64Array {
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outDim; o++) {
    let sum = 0;
    for (let i = 0; i < inDim; i++) sum += a[r * inDim + i]! * w[o * inDim + i]!;
    out[r * outDim + o] = sum;
  }
  return out;
}
function twinSoftmax(x: Float32Array, rows: number): Float64Array {
  const length = x.length / rows;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * length, (r + 1) * length);
    const max = Math.max(...row);
    const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
    row.forEach((v, i) => (out[r * length + i] = Math.exp(v - max) / sum));
  }
  return out;
}
function twinArgmax(x: Float32Array): number {
  let best = 0;
  x.forEach((v, i) => (v > x[best]! ? (best = i) : undefined));
  return best;
}

/** Relative error against the twin, measured against the row's scale (dot products cancel). */
function expectClose(actual: Float32Array, expected: Float64Array, scale: number): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThanOrEqual(1e-4 * Math.max(scale, Math.abs(v))));
}

describe('model kernels on WebGPU', () => {
  it('matmul (tiled) matches its twin on shapes that are not multiples of the tile', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 50 }), fc.integer(), async (rows, inDim, outDim, seed) => {
        const a = floats(rows * inDim, seed, 2);
        const w = floats(outDim * inDim, seed + 1);
        const actual = await matmul(d, a, w, rows, inDim, outDim);
        expectClose(actual, twinMatmul(a, w, rows, inDim, outDim), Math.sqrt(inDim));
      }),
      { numRuns: 25 },
    );
  });

  it('matmul as matrix-vector product at a model shape, and accumulating into a residual', async () => {
    const [inDim, outDim] = [288, 768];
    const a = floats(inDim, 7);
    const w = floats(outDim * inDim, 8);
    expectClose(await matmul(d, a, w, 1, inDim, outDim), twinMatmul(a, w, 1, inDim, outDim), Math.sqrt(inDim));
    const residual = floats(outDim, 9);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const out = d.temp(residual.byteLength, usage, residual);
    encodeMatmul(d, d.temp(a.byteLength, usage, a), d.temp(w.byteLength, usage, w), out, { rows: 1, inDim, outDim, accumulate: true });
    const actual = new Float32Array(await d.read(out, residual.byteLength));
    expectClose(actual, twinMatmul(a, w, 1, inDim, outDim).map((v, i) => v + residual[i]!), Math.sqrt(inDim));
  });

  it('matmul over many rows (prefill) spans several 64 x 64 tiles and accumulates', async () => {
    const [rows, inDim, outDim] = [70, 130, 150];
    const a = floats(rows * inDim, 3, 2);
    const w = floats(outDim * inDim, 4);
    const expected = twinMatmul(a, w, rows, inDim, outDim);
    expectClose(await matmul(d, a, w, rows, inDim, outDim), expected, Math.sqrt(inDim));
    const residual = floats(rows * outDim, 5);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const out = d.temp(residual.byteLength, usage, residual);
    encodeMatmul(d, d.temp(a.byteLength, usage, a), d.temp(w.byteLength, usage, w), out, { rows, inDim, outDim, accumulate: true });
    expectClose(new Float32Array(await d.read(out, residual.byteLength)), expected.map((v, i) => v + residual[i]!), Math.sqrt(inDim));
  });

  it('softmax matches its twin, with very large and very small scores and a single element', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 30, 1e4, 1e-6), fc.integer(), async (rows, length, scale, seed) => {
        const x = floats(rows * length, seed, scale);
        expectClose(await softmaxRows(d, x, rows), twinSoftmax(x, rows), 1e-3);
      }),
      { numRuns: 25 },
    );
    expect(Array.from(await softmaxRows(d, Float32Array.of(-3e38), 1))).toEqual([1]);
  });

  it('argmax finds the twin index over a vocabulary, ties to the lower index', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 33000 }), fc.integer(), async (length, seed) => {
        const x = floats(length, seed, 10).map((v) => Math.round(v * 4) / 4); // coarse: many ties
        expect(await argmax(d, x)).toBe(twinArgmax(x));
      }),
      { numRuns: 20 },
    );
    expect(await argmax(d, Float32Array.of(-1, 5, 5, 2))).toBe(1);
    expect(await argmax(d, Float32Array.of(-3e38, -3.4e38))).toBe(0);
  });

  it('argmax answers -1 for logits that hold NaN or an infinity, wherever they are', async () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of [0, 7, 300, 32_999]) {
        const x = floats(33_000, at, 10);
        x[at] = bad;
        expect(await argmax(d, x)).toBe(-1);
      }
    }
  });

  it('refuses bad shapes with typed errors', async () => {
    await expect(matmul(d, new Float32Array(3), new Float32Array(4), 1, 3, 2)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(softmaxRows(d, new Float32Array(5), 2)).rejects.toThrow(/do not split/);
    await expect(argmax(d, new Float32Array(0))).rejects.toThrow(/positive integer/);
  });
});
