import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GpuContext, requestGpu } from '../src/device.js';
import { Dispatcher } from '../src/dispatcher.js';
import { floats } from './helpers.js';

let gpu: GpuContext;
let d: Dispatcher;
beforeAll(async () => {
  gpu = await requestGpu();
  d = new Dispatcher(gpu);
});
afterAll(() => gpu?.device.destroy());

const usage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
const upload = (data: Float32Array) => d.temp(data.byteLength, usage(), data);
const readBack = async (buffer: GPUBuffer, floatsToRead: number) => new Float32Array(await d.read(buffer, floatsToRead * 4));

function expectClose(actual: Float32Array, expected: ArrayLike<number>, scale: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(scale, Math.abs(expected[i]!)));
}

/** The decode step's kernels (matvec, RMSNorm, RoPE, residual and SwiGLU) against f64 CPU twins. */
describe('decoder kernels on WebGPU', () => {
  it('matvec matches its twin at a model shape, off-size shapes and with a weight offset', async () => {
    for (const [inDim, outDim, offset] of [[288, 768, 0], [97, 5, 13], [3, 1000, 7]] as const) {
      const w = floats(offset + inDim * outDim, inDim);
      const x = floats(inDim, outDim, 2);
      const out = d.temp(outDim * 4, usage());
      d.run('matvec', { inDim, outDim, weightOffset: offset }, [upload(w), upload(x), out], { groups: outDim });
      const expected = Array.from({ length: outDim }, (_, o) => {
        let sum = 0;
        for (let i = 0; i < inDim; i++) sum += w[offset + o * inDim + i]! * x[i]!;
        return sum;
      });
      expectClose(await readBack(out, outDim), expected, Math.sqrt(inDim));
    }
  });

  it('RMSNorm matches its twin on odd sizes and very large and very small magnitudes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 1e4, 1e-4), fc.nat({ max: 9 }), fc.integer(), async (dim, scale, offset, seed) => {
        const x = floats(dim, seed, scale);
        const weight = floats(offset + dim, seed + 1);
        const eps = 1e-5;
        const out = d.temp(dim * 4, usage());
        d.run('rmsnorm', { dim, weightOffset: offset, eps }, [upload(x), upload(weight), out], { x: 1 });
        const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / dim + eps);
        expectClose(await readBack(out, dim), Array.from(x, (v, i) => (weight[offset + i]! * v) / rms), 1e-3);
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
      const buffer = upload(v);
      d.run('rope', { heads, headDim, position }, [buffer, upload(cos), upload(sin)], { threads: heads * half });
      const expected = Float64Array.from(v);
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < half; j++) {
          const [i, c, s] = [h * headDim + 2 * j, cos[position * half + j]!, sin[position * half + j]!];
          expected[i] = v[i]! * c - v[i + 1]! * s;
          expected[i + 1] = v[i]! * s + v[i + 1]! * c;
        }
      }
      expectClose(await readBack(buffer, heads * headDim), expected, 1);
    }
  });

  it('the residual add and SwiGLU match their twins, including large gates', async () => {
    for (const length of [1, 63, 768, 70_000]) {
      const a = floats(length, length, 12);
      const b = floats(length, length + 1, 2);
      for (const op of [0, 1]) {
        const buffer = upload(a);
        d.run('elementwise', { length, op }, [buffer, upload(b)], { threads: length });
        const expected = Array.from(a, (g, i) => (op === 0 ? g + b[i]! : (g / (1 + Math.exp(-g))) * b[i]!));
        expectClose(await readBack(buffer, length), expected, 1e-3);
      }
    }
  });
});
