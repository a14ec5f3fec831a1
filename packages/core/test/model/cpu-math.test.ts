import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matmul, matmulReference } from '../../src/model/cpu-math.js';
import { TensorType, dequantize, halfToFloat } from '../../src/index.js';

describe('matmul (tiled) against its plain twin', () => {
  it('gives bit-identical outputs for any shape, including ragged tiles', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 1, max: 11 }),
        fc.integer(),
        (tokens, inDim, outDim, seed) => {
          let state = seed | 1;
          const random = () => ((state = (state * 1103515245 + 12345) | 0) >>> 8) / (1 << 24) - 0.5;
          const x = Float32Array.from({ length: tokens * inDim }, random);
          const w = Float32Array.from({ length: outDim * inDim }, random);
          const fast = new Float32Array(tokens * outDim);
          const plain = new Float32Array(tokens * outDim);
          matmul(fast, x, w, tokens, inDim, outDim);
          matmulReference(plain, x, w, tokens, inDim, outDim);
          expect(Array.from(fast)).toEqual(Array.from(plain));
        },
      ),
    );
  });
});

describe('dequantize', () => {
  it('reads bf16 as the high half of f32 and q8_0 as scale x int8', () => {
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x0000]).buffer); // 1, -3, 0
    expect(Array.from(dequantize(TensorType.BF16, bf16, 3))).toEqual([1, -3, 0]);
    const block = new Uint8Array(34);
    const view = new DataView(block.buffer);
    view.setUint16(0, 0x3800, true); // f16 0.5
    for (let i = 0; i < 32; i++) view.setInt8(2 + i, i - 16);
    expect(Array.from(dequantize(TensorType.Q8_0, block, 32))).toEqual(Array.from({ length: 32 }, (_, i) => (i - 16) * 0.5));
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
  });
});
