import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeMatvec } from '../src/model-ops.js';
import { expectClose, floats, output, readBack, testGpu, upload } from './helpers.js';

const { d } = await testGpu();

/** The decode step's kernels (matvec, RMSNorm, RoPE, residual and SwiGLU) against f64 CPU twins. */
describe('decoder kernels on WebGPU', () => {
  it('matvec matches its twin at a model shape, off-size shapes and with a weight offset', async () => {
    for (const [inDim, outDim, offset] of [[288, 768, 0], [97, 5, 13], [3, 1000, 7], [5000, 70, 3], [288, 70_000, 0], [2, 4_300_000, 1]] as const) { // the last spills past 65,535 workgroups
      const w = floats(offset + inDim * outDim, inDim);
      const x = floats(inDim, outDim, 2);
      const out = output(d, outDim);
      encodeMatvec(d, upload(d, w), upload(d, x), out, { inDim, outDim, weightOffset: offset });
      const expected = Array.from({ length: outDim }, (_, o) => {
        let sum = 0;
        for (let i = 0; i < inDim; i++) sum += w[offset + o * inDim + i]! * x[i]!;
        return sum;
      });
      expectClose(await readBack(d, out, outDim), expected, Math.sqrt(inDim));
    }
  });

  it('RMSNorm matches its twin on odd sizes and very large and very small magnitudes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 1e4, 1e-4), fc.nat({ max: 9 }), fc.integer(), async (dim, scale, offset, seed) => {
        const x = floats(dim, seed, scale);
        const weight = floats(offset + dim, seed + 1);
        const eps = 1e-5;
        const out = output(d, dim);
        d.run('rmsnorm', { dim, weightOffset: offset, eps, rows: 1 }, [upload(d, x), upload(d, weight), out], { groups: 1 });
        const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / dim + eps);
        expectClose(await readBack(d, out, dim), Array.from(x, (v, i) => (weight[offset + i]! * v) / rms), 1e-3);
      }),
      { numRuns: 20 },
    );
  });

  it('RoPE rotates the pairs (2j, 2j + 1) of every head by its position\'s table entries', async () => {
    const [heads, headDim, context] = [6, 48, 40];
    const half = headDim / 2;
    const cos = new Float32Array(context * half);
    const sin = new Float32Array(context * half);
    for (let position = 0; position < context; position++) {
      for (let j = 0; j < half; j++) {
        const angle = position * 10000 ** (-(2 * j) / headDim);
        cos[position * half + j] = Math.cos(angle);
        sin[position * half + j] = Math.sin(angle);
      }
    }
    for (const position of [0, 1, 39]) {
      const v = floats(heads * headDim, position + 3, 3);
      const buffer = upload(d, v);
      d.run('rope', { heads, headDim, position, tokens: 1 }, [buffer, upload(d, cos), upload(d, sin)], { threads: heads * half });
      const expected = Float64Array.from(v);
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < half; j++) {
          const [i, c, s] = [h * headDim + 2 * j, cos[position * half + j]!, sin[position * half + j]!];
          expected[i] = v[i]! * c - v[i + 1]! * s;
          expected[i + 1] = v[i]! * s + v[i + 1]! * c;
        }
      }
      expectClose(await readBack(d, buffer, heads * headDim), expected, 1);
    }
  });

  it('NeoX RoPE rotates the pairs (j, j + headDim / 2), from a base position or each row\'s own', async () => {
    const [tokens, heads, headDim, base] = [5, 3, 10, 4];
    const half = headDim / 2;
    const context = 20;
    const cos = Float32Array.from({ length: context * half }, (_, i) => Math.cos(Math.floor(i / half) * 10000 ** (-(2 * (i % half)) / headDim)));
    const sin = Float32Array.from({ length: context * half }, (_, i) => Math.sin(Math.floor(i / half) * 10000 ** (-(2 * (i % half)) / headDim)));
    const rowPositions = [7, 0, 19, 3, 11];
    for (const kernel of ['ropeNeox', 'ropeRowsNeox'] as const) {
      const v = floats(tokens * heads * headDim, 17, 3);
      const buffer = upload(d, v);
      const positionOf = (t: number) => (kernel === 'ropeNeox' ? base + t : rowPositions[t]!);
      const tables = [buffer, upload(d, cos), upload(d, sin)];
      if (kernel === 'ropeRowsNeox') tables.push(d.temp(tokens * 4, GPUBufferUsage.STORAGE, Uint32Array.from(rowPositions)));
      d.run(kernel, { heads, headDim, position: kernel === 'ropeNeox' ? base : 0, tokens }, tables, { threads: (tokens * heads * headDim) / 2 });
      const expected = Float64Array.from(v);
      for (let t = 0; t < tokens; t++) {
        for (let h = 0; h < heads; h++) {
          for (let j = 0; j < half; j++) {
            const i = (t * heads + h) * headDim + j;
            const [c, s] = [cos[positionOf(t) * half + j]!, sin[positionOf(t) * half + j]!];
            expected[i] = v[i]! * c - v[i + half]! * s;
            expected[i + half] = v[i]! * s + v[i + half]! * c;
          }
        }
      }
      expectClose(await readBack(d, buffer, v.length), expected, 1);
    }
  });

  it('the bias add adds the bias to every row, on odd widths and past 65,535 workgroups', async () => {
    for (const [rows, width] of [[1, 7], [13, 30], [3, 1_500_000]] as const) {
      const a = floats(rows * width, rows, 4);
      const bias = floats(width, width, 2);
      const buffer = upload(d, a);
      d.run('addBias', { length: rows * width, width }, [buffer, upload(d, bias)], { threads: rows * width });
      expectClose(await readBack(d, buffer, a.length), Array.from(a, (x, i) => x + bias[i % width]!), 1e-3);
    }
  });

  it('the residual add and SwiGLU match their twins, including large gates', async () => {
    for (const length of [1, 63, 768, 70_000]) {
      const a = floats(length, length, 12);
      const b = floats(length, length + 1, 2);
      for (const op of [0, 1]) {
        const buffer = upload(d, a);
        d.run('elementwise', { length, op }, [buffer, upload(d, b)], { threads: length });
        const expected = Array.from(a, (g, i) => (op === 0 ? g + b[i]! : (g / (1 + Math.exp(-g))) * b[i]!));
        expectClose(await readBack(d, buffer, length), expected, 1e-3);
      }
    }
  });
});
