import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Allocator,
  TENSOR_TYPE_IDS,
  TENSOR_TYPES,
  type TensorType,
  blockWeights,
  defaultRelaxedWasmUrl,
  dequantizeTensor,
  floatToBf16,
  floatToHalf,
  halfToFloat,
  quantizeTensor,
} from '../src/index.js';
import { magnitude, randomFloats, randomTensor, referenceMatmul, wasmMatmul } from './engine-helpers.js';

// Each kernel of the engine against an f64 twin over the dequantized weights and the unquantized
// activations. Error bound of each output:
//   1e-6 x sum_i |w_i x_i| for f32 accumulation (f16/bf16 weights are exact in f32, so the same), plus,
//   for quantized weights, the activation rounding: each activation moves by at most half a step,
//   max|x| / 254 over its group (32 values for q8_0/q4_0, 256 for q4_K/q6_K), so the output moves by at
//   most sum over groups of (sum_i |w_i|) x max|x| / 254.
const ACTIVATION_GROUP: Record<TensorType, number> = { f32: 0, f16: 0, bf16: 0, q8_0: 32, q4_0: 32, q4_K: 256, q6_K: 256 };

function quantizationBound(type: TensorType, w: Float32Array, rows: number, cols: number, x: Float32Array, tokens: number): Float64Array {
  const group = ACTIVATION_GROUP[type];
  const out = new Float64Array(rows * tokens);
  if (group === 0) return out;
  for (let t = 0; t < tokens; t++) {
    for (let o = 0; o < rows; o++) {
      let bound = 0;
      for (let g = 0; g < cols; g += group) {
        let amax = 0;
        let weights = 0;
        for (let i = g; i < g + group; i++) {
          amax = Math.max(amax, Math.abs(x[t * cols + i]!));
          weights += Math.abs(w[o * cols + i]!);
        }
        bound += (weights * amax) / 254;
      }
      out[t * rows + o] = bound * (1 + 1e-5);
    }
  }
  return out;
}

// Every kernel runs on the plain SIMD build and on the relaxed-SIMD one (fused multiply-add; the
// test workers run with --experimental-wasm-relaxed-simd, see vitest.config.ts).
describe.each([
  ['plain SIMD', false],
  ['relaxed SIMD', true],
] as const)('%s build', (_name, relaxed) => {
  let allocator: Allocator;
  beforeAll(async () => {
    allocator = await Allocator.load(relaxed ? defaultRelaxedWasmUrl() : undefined);
    expect(allocator.exports.adakv_build_features() & 2).toBe(relaxed ? 2 : 0);
  });

  /** Copies a RoPE kernel's vectors and cos/sin tables into scratch; returns their addresses. */
  function placeRopeInputs(v: Float32Array, cos: Float32Array, sin: Float32Array): [number, number, number] {
    const regions = allocator.scratch.regions(v.byteLength, cos.byteLength, sin.byteLength) as [number, number, number];
    [v, cos, sin].forEach((values, i) => allocator.f32(regions[i]!, values.length).set(values));
    return regions;
  }

  describe('weight formats', () => {
    it('f16 and bf16 conversions round to nearest even and cover subnormals, infinities and NaN', () => {
      expect(floatToHalf(1)).toBe(0x3c00);
      expect(floatToHalf(-2)).toBe(0xc000);
      expect(floatToHalf(65504)).toBe(0x7bff);
      expect(floatToHalf(1e6)).toBe(0x7c00);
      expect(floatToHalf(2 ** -24)).toBe(1);
      expect(floatToHalf(2 ** -26)).toBe(0);
      expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
      expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
      expect(halfToFloat(floatToHalf(0.1))).toBeCloseTo(0.1, 3);
      expect(floatToBf16(1)).toBe(0x3f80);
      expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    });

    it('the engine dequantizes every type exactly as the TS twin does (which follows llama.cpp)', () => {
      for (const type of TENSOR_TYPES) {
        const cols = blockWeights(type) * 3;
        const values = randomFloats(7, cols).map((v, i) => (i % 17 === 0 ? v * 40 : v));
        const bytes = quantizeTensor(type, values, 1, cols);
        const [row, out] = allocator.scratch.regions(bytes.byteLength, cols * 4) as [number, number];
        allocator.u8(row, bytes.byteLength).set(bytes);
        expect(allocator.exports.adakv_kernel_dequantize(TENSOR_TYPE_IDS[type], row, cols, out)).toBe(0);
        const engine = allocator.f32(out, cols).slice();
        const twin = dequantizeTensor(type, bytes, 1, cols);
        for (let i = 0; i < cols; i++) expect(Math.abs(engine[i]! - twin[i]!)).toBeLessThanOrEqual(Math.abs(twin[i]!) * 1e-6);
      }
    });

    it('quantizes rows as llama.cpp does for q8_0 and q4_0 (known blocks)', () => {
      const values = Float32Array.from({ length: 32 }, (_, i) => i - 16); // amax 16
      const q8 = quantizeTensor('q8_0', values, 1, 32);
      expect(halfToFloat(q8[0]! | (q8[1]! << 8))).toBeCloseTo(16 / 127, 4);
      expect(new Int8Array(q8.buffer, 2, 32)[0]).toBe(-127);
      const q4 = quantizeTensor('q4_0', values, 1, 32);
      // max by magnitude is -16, d = -16 / -8 = 2; x = -16 -> -16/2 + 8.5 = 0.5 -> 0
      expect(halfToFloat(q4[0]! | (q4[1]! << 8))).toBe(2);
      expect(q4[2]! & 0xf).toBe(0);
      expect(dequantizeTensor('q4_0', q4, 1, 32)[0]).toBe(-16);
    });

    it('rejects rows that are not whole blocks and unknown types', () => {
      const [w, x, out] = allocator.scratch.regions(64, 64, 64) as [number, number, number];
      expect(allocator.exports.adakv_kernel_matmul(TENSOR_TYPE_IDS.q8_0, w, 1, 31, x, 1, out)).toBe(-1);
      expect(allocator.exports.adakv_kernel_matmul(99, w, 1, 32, x, 1, out)).toBe(-9);
      expect(() => quantizeTensor('q4_K', new Float32Array(128), 1, 128)).toThrow(/whole blocks/);
    });
  });

  describe('matmul kernels against an f64 twin', () => {
    for (const type of TENSOR_TYPES) {
      it(`${type}: any rows, tokens and whole-block widths, within the rounding bound`, () => {
        const unit = blockWeights(type);
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 37 }),
            fc.integer({ min: 1, max: 6 }),
            fc.integer({ min: 1, max: unit === 1 ? 70 : unit === 32 ? 6 : 2 }),
            fc.integer({ min: 1, max: 2 ** 30 }),
            (rows, tokens, blocks, seed) => {
              const cols = blocks * unit;
              const { bytes, values } = randomTensor(type, rows, cols, seed);
              const x = randomFloats(seed + 1, tokens * cols).map((v, i) => (i % 13 === 0 ? v * 8 : v));
              const got = wasmMatmul(allocator, type, bytes, rows, cols, x, tokens);
              const expected = referenceMatmul(values, rows, cols, x, tokens);
              const scale = magnitude(values, rows, cols, x, tokens);
              const quantization = quantizationBound(type, values, rows, cols, x, tokens);
              for (let i = 0; i < got.length; i++) {
                expect(Math.abs(got[i]! - expected[i]!)).toBeLessThanOrEqual(1e-6 * scale[i]! + quantization[i]! + 1e-30);
              }
            },
          ),
          { numRuns: 25 },
        );
      });
    }

    it('gives each output bit-identically whatever the batch size or row range around it', () => {
      // Float weights change tile shape with the batch (one pass for 1-3 tokens, 2 rows x 4 tokens in two
      // passes from 4 on, 5 = 3 + 2 at the end); 45 columns exercise the odd 4-float chunk and the tail.
      for (const type of ['f32', 'f16', 'bf16', 'q8_0', 'q4_K'] as TensorType[]) {
        const cols = blockWeights(type) === 1 ? 45 : blockWeights(type) * 2;
        const { bytes } = randomTensor(type, 23, cols, 3);
        for (const tokens of [2, 3, 4, 5, 9, 14]) {
          const x = randomFloats(4 + tokens, tokens * cols);
          const batch = wasmMatmul(allocator, type, bytes, 23, cols, x, tokens);
          for (let t = 0; t < tokens; t++) {
            const alone = wasmMatmul(allocator, type, bytes, 23, cols, x.subarray(t * cols, (t + 1) * cols), 1);
            expect(Array.from(batch.subarray(t * 23, (t + 1) * 23))).toEqual(Array.from(alone));
          }
          const rowBytes = bytes.byteLength / 23;
          const lastRows = wasmMatmul(allocator, type, bytes.subarray(rowBytes * 7), 16, cols, x, tokens);
          for (let t = 0; t < tokens; t++) expect(Array.from(lastRows.subarray(t * 16, (t + 1) * 16))).toEqual(Array.from(batch.subarray(t * 23 + 7, (t + 1) * 23)));
        }
      }
    });
  });

  describe('row operations against f64 twins', () => {
    it('rmsnorm', () => {
      for (const dim of [1, 3, 8, 288, 301]) {
        const x = randomFloats(dim, 3 * dim).map((v) => v * 5);
        const weight = randomFloats(dim + 1, dim);
        const [xp, wp, out] = allocator.scratch.regions(x.byteLength, weight.byteLength, x.byteLength) as [number, number, number];
        allocator.f32(xp, x.length).set(x);
        allocator.f32(wp, dim).set(weight);
        expect(allocator.exports.adakv_kernel_rmsnorm(out, xp, wp, 3, dim, 1e-5)).toBe(0);
        const got = allocator.f32(out, x.length);
        for (let t = 0; t < 3; t++) {
          let squares = 0;
          for (let i = 0; i < dim; i++) squares += x[t * dim + i]! ** 2;
          const scale = 1 / Math.sqrt(squares / dim + Math.fround(1e-5));
          for (let i = 0; i < dim; i++) {
            const expected = weight[i]! * scale * x[t * dim + i]!;
            expect(Math.abs(got[t * dim + i]! - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-6 + 1e-12);
          }
        }
      }
    });

    it('rope rotates adjacent pairs (llama2.c layout)', () => {
      const heads = 3;
      const headDim = 10;
      const v = randomFloats(9, heads * headDim);
      const angles = Float64Array.from({ length: headDim / 2 }, (_, j) => 0.3 * (j + 1));
      const cos = Float32Array.from(angles, Math.cos);
      const sin = Float32Array.from(angles, Math.sin);
      const [vp, cp, sp] = placeRopeInputs(v, cos, sin);
      expect(allocator.exports.adakv_kernel_rope(vp, heads, headDim, cp, sp, 0)).toBe(0);
      const got = allocator.f32(vp, v.length);
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < headDim / 2; j++) {
          const i = h * headDim + 2 * j;
          expect(got[i]).toBeCloseTo(v[i]! * cos[j]! - v[i + 1]! * sin[j]!, 6);
          expect(got[i + 1]).toBeCloseTo(v[i]! * sin[j]! + v[i + 1]! * cos[j]!, 6);
        }
      }
    });

    it('rope rotates NeoX (rotate-half) pairs (j, j + headDim / 2): exactly the f32 twin, any head width', () => {
      // The SIMD lanes use the scalar order (v0 c - v1 s, v0 s + v1 c, no fused multiply-add), so the
      // twin computed with Math.fround after every operation must match bit for bit.
      const f = Math.fround;
      for (const [heads, headDim] of [[1, 2], [3, 10], [2, 16], [14, 64], [2, 66]] as const) {
        const half = headDim / 2;
        const v = randomFloats(headDim + heads, heads * headDim).map((x) => x * 3);
        const angles = Float64Array.from({ length: half }, (_, j) => 0.37 * (j + 1) - 2);
        const cos = Float32Array.from(angles, Math.cos);
        const sin = Float32Array.from(angles, Math.sin);
        const [vp, cp, sp] = placeRopeInputs(v, cos, sin);
        expect(allocator.exports.adakv_kernel_rope(vp, heads, headDim, cp, sp, 1)).toBe(0);
        const got = allocator.f32(vp, v.length).slice();
        const want = new Float32Array(v.length);
        for (let h = 0; h < heads; h++) {
          for (let j = 0; j < half; j++) {
            const [a, b] = [v[h * headDim + j]!, v[h * headDim + half + j]!];
            want[h * headDim + j] = f(f(a * cos[j]!) - f(b * sin[j]!));
            want[h * headDim + half + j] = f(f(a * sin[j]!) + f(b * cos[j]!));
          }
        }
        expect(Array.from(got)).toEqual(Array.from(want));
      }
      const [vp, cp, sp] = allocator.scratch.regions(16, 16, 16) as [number, number, number];
      expect(allocator.exports.adakv_kernel_rope(vp, 1, 4, cp, sp, 2)).toBe(-1); // no third style
    });

    it('swiglu and softmax (4-lane exponentials) within 2e-6 relative, large and tiny arguments included', () => {
      for (const count of [1, 4, 7, 64, 101]) {
        const gate = randomFloats(count, count).map((v, i) => v * (i % 5 === 0 ? 120 : 6));
        const up = randomFloats(count + 1, count);
        const [gp, up2] = allocator.scratch.regions(gate.byteLength, up.byteLength) as [number, number];
        allocator.f32(gp, count).set(gate);
        allocator.f32(up2, count).set(up);
        expect(allocator.exports.adakv_kernel_swiglu(gp, up2, count)).toBe(0);
        const got = allocator.f32(gp, count);
        for (let i = 0; i < count; i++) {
          const g = gate[i]!;
          const expected = (g / (1 + Math.exp(-g))) * up[i]!;
          expect(Math.abs(got[i]! - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-6 + 1e-30);
        }
        const logits = randomFloats(count + 2, count).map((v, i) => v * (i % 3 === 0 ? 80 : 3));
        const [lp] = allocator.scratch.regions(logits.byteLength) as [number];
        allocator.f32(lp, count).set(logits);
        expect(allocator.exports.adakv_kernel_softmax(lp, count)).toBe(0);
        const probabilities = allocator.f32(lp, count);
        const max = Math.max(...logits);
        const total = logits.reduce((a, l) => a + Math.exp(l - max), 0);
        for (let i = 0; i < count; i++) {
          const expected = Math.exp(logits[i]! - max) / total;
          // plus the rounding of logit - max to f32 (half an ulp of the difference, relative to e^x)
          const argumentRounding = Math.abs(logits[i]! - max) * 2 ** -24;
          expect(Math.abs(probabilities[i]! - expected)).toBeLessThanOrEqual(expected * (2e-6 + argumentRounding) + 1e-38);
        }
      }
    });

    it('argmax takes the first of ties and never NaN', () => {
      const [p] = allocator.scratch.regions(64) as [number];
      allocator.f32(p, 5).set([NaN, 3, 7, 7, -1]);
      expect(allocator.exports.adakv_argmax(p, 5)).toBe(2);
      expect(allocator.exports.adakv_argmax(p, 0)).toBe(-1);
    });

    it('quantizes activations to q8 per 32 and q8_K per 256 within half a step', () => {
      const cols = 512;
      const x = randomFloats(11, cols).map((v, i) => v * (1 + (i % 7)));
      for (const kind of [1, 2]) {
        const group = kind === 1 ? 32 : 256;
        const [xp, q, d, sums] = allocator.scratch.regions(cols * 4, cols * 2, cols * 4, cols * 4) as [number, number, number, number];
        allocator.f32(xp, cols).set(x);
        expect(allocator.exports.adakv_kernel_quantize(kind, xp, cols, q, d, sums)).toBe(0);
        const qs = allocator.i16(q, cols);
        const ds = allocator.f32(d, cols / group);
        for (let i = 0; i < cols; i++) {
          const step = ds[Math.floor(i / group)]!;
          expect(Math.abs(qs[i]!)).toBeLessThanOrEqual(127);
          expect(Math.abs(qs[i]! * step - x[i]!)).toBeLessThanOrEqual(step * 0.5 * (1 + 1e-5));
        }
        if (kind === 2) {
          const s = allocator.i32(sums, cols / 32);
          for (let g = 0; g < cols / 32; g++) expect(s[g]).toBe(Array.from(qs.subarray(32 * g, 32 * g + 32)).reduce((a, b) => a + b, 0));
        }
      }
    });
  });
});
