import { type TensorType as FormatName, TENSOR_TYPE_IDS, blockWeights, dequantizeTensor, tensorByteLength as formatByteLength } from '@adakv/allocator-wasm';
import { ModelFormatError } from '../errors.js';

export { halfToFloat } from '@adakv/allocator-wasm';

/** GGML tensor types this loader reads (values of `GGMLQuantizationType`). */
export const TensorType = {
  /** 32-bit floats. */
  F32: 0,
  /** IEEE half floats. */
  F16: 1,
  /** Blocks of 32 4-bit weights with one f16 scale. */
  Q4_0: 2,
  /** Blocks of 32 int8 weights with one f16 scale. */
  Q8_0: 8,
  /** Super-blocks of 256 4-bit weights with 6-bit scales and minimums (Q4_K_M files). */
  Q4_K: 12,
  /** Super-blocks of 256 6-bit weights with 8-bit scales (Q4_K_M files' output and value tensors). */
  Q6_K: 14,
  /** bfloat16: the top half of an f32. */
  BF16: 30,
} as const;

const BY_ID = new Map<number, FormatName>(Object.entries(TENSOR_TYPE_IDS).map(([name, id]) => [id, name as FormatName]));

/** The format of a GGML tensor type id, or undefined for one this loader does not read. */
export function tensorFormat(type: number): FormatName | undefined {
  return BY_ID.get(type);
}

/** The name of a GGML tensor type (`f32`, `q8_0`, `q4_K`, ...), or `ggml type N` for one this loader does not read. */
export function tensorTypeName(type: number): string {
  return BY_ID.get(type) ?? `ggml type ${type}`;
}

/** The format of tensor `name`, checked readable and whole blocks; a typed error that says what to do otherwise. */
function format(type: number, count: number, name: string): FormatName {
  const known = BY_ID.get(type);
  if (!known) {
    throw new ModelFormatError(
      `GGUF tensor ${name} is stored as ${tensorTypeName(type)}; this loader reads ${[...BY_ID.values()].join(', ')}. ` +
        'Convert the model with one of those (e.g. llama.cpp quantize --allow-requantize ... Q4_K_M or Q8_0).',
    );
  }
  if (count % blockWeights(known) !== 0) {
    throw new ModelFormatError(`GGUF tensor ${name}: ${count} weights are not whole ${known} blocks of ${blockWeights(known)}.`);
  }
  return known;
}

/** Bytes a tensor of `count` weights of `type` occupies, or an error for types this loader cannot read. */
export function tensorByteLength(type: number, count: number, name: string): number {
  return formatByteLength(format(type, count, name), 1, count);
}

/**
 * `count` weights of `type` from `bytes` (exactly the tensor's bytes) as f32, by the same reference
 * dequantizers the WASM engine's kernels are tested against.
 */
export function dequantize(type: number, bytes: Uint8Array, count: number, name = 'tensor'): Float32Array {
  const known = format(type, count, name);
  // f32 tensors are GGUF's alignment-padded most of the time: one copy, no per-weight reads
  if (known === 'f32' && bytes.byteOffset % 4 === 0 && bytes.byteLength === count * 4) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return dequantizeTensor(known, bytes, 1, count);
}
