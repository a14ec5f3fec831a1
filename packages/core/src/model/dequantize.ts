import { ModelFormatError } from '../errors.js';

/** GGML tensor types this loader reads (values of `GGMLQuantizationType`). */
export const TensorType = {
  /** 32-bit floats. */
  F32: 0,
  /** IEEE half floats. */
  F16: 1,
  /** Blocks of 32 int8 weights with one f16 scale. */
  Q8_0: 8,
  /** bfloat16: the top half of an f32. */
  BF16: 30,
} as const;
const NAMES: Record<number, string> = { 0: 'f32', 1: 'f16', 8: 'q8_0', 30: 'bf16' };
/** q8_0: blocks of 32 weights, one f16 scale and 32 int8s. */
const Q8_BLOCK = 32;
const Q8_BLOCK_BYTES = 2 + Q8_BLOCK;

/**
 * The name of a GGML tensor type (`f32`, `q8_0`, ...), or `ggml type N` for one this loader does not read.
 */
export function tensorTypeName(type: number): string {
  return NAMES[type] ?? `ggml type ${type}`;
}

let halfTable: Float32Array | undefined;
/** f16 bit patterns to f32, built once (256 KiB) so dequantizing is one lookup per weight. */
function halves(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) halfTable[bits] = halfToFloat(bits);
  }
  return halfTable;
}

/** IEEE 754 binary16 bits to a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Bytes a tensor of `count` weights of `type` occupies, or an error for types this loader cannot read. */
export function tensorByteLength(type: number, count: number, name: string): number {
  switch (type) {
    case TensorType.F32:
      return count * 4;
    case TensorType.F16:
    case TensorType.BF16:
      return count * 2;
    case TensorType.Q8_0:
      if (count % Q8_BLOCK !== 0) {
        throw new ModelFormatError(`GGUF tensor ${name}: ${count} weights are not whole q8_0 blocks of ${Q8_BLOCK}.`);
      }
      return (count / Q8_BLOCK) * Q8_BLOCK_BYTES;
    default:
      throw new ModelFormatError(
        `GGUF tensor ${name} is stored as ${tensorTypeName(type)}; this loader reads f32, f16, bf16 and q8_0. ` +
          'Convert the model with one of those (e.g. llama.cpp quantize --allow-requantize ... Q8_0).',
      );
  }
}

/** `count` weights of `type` from `bytes` (exactly the tensor's bytes) as f32. */
export function dequantize(type: number, bytes: Uint8Array, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (type) {
    case TensorType.F32:
      if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
      else for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case TensorType.F16: {
      const table = halves();
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)]!;
      return out;
    }
    case TensorType.BF16: {
      const word = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) word[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case TensorType.Q8_0: {
      const table = halves();
      for (let block = 0; block < count / Q8_BLOCK; block++) {
        const base = block * Q8_BLOCK_BYTES;
        const scale = table[view.getUint16(base, true)]!;
        for (let i = 0; i < Q8_BLOCK; i++) out[block * Q8_BLOCK + i] = scale * view.getInt8(base + 2 + i);
      }
      return out;
    }
    default:
      throw new ModelFormatError(`Cannot dequantize ${tensorTypeName(type)}.`);
  }
}
