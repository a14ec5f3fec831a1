import { AllocatorError } from './errors.js';

/**
 * Weight formats the engine reads in place (llama.cpp's block layouts, GGML's type ids):
 * `f32`, `f16`, `bf16` (converted to f32 in registers as they are read), `q8_0`, `q4_0` (blocks of 32),
 * `q4_K`, `q6_K` (super-blocks of 256).
 */
export type TensorType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_K' | 'q6_K';

/** GGML type ids (`GGMLQuantizationType`), which the C ABI uses. */
export const TENSOR_TYPE_IDS: Readonly<Record<TensorType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_K: 12, q6_K: 14, bf16: 30 };

interface Layout {
  /** Weights per block. */
  weights: number;
  /** Bytes per block. */
  bytes: number;
}

const layouts: Readonly<Record<TensorType, Layout>> = {
  f32: { weights: 1, bytes: 4 },
  f16: { weights: 1, bytes: 2 },
  bf16: { weights: 1, bytes: 2 },
  q8_0: { weights: 32, bytes: 34 },
  q4_0: { weights: 32, bytes: 18 },
  q4_K: { weights: 256, bytes: 144 },
  q6_K: { weights: 256, bytes: 210 },
};

/** Every tensor type the engine stores (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K). */
export const TENSOR_TYPES = Object.keys(layouts) as TensorType[];

export function isTensorType(type: unknown): type is TensorType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(layouts, type);
}

/** Weights per block of `type` (1 for the float types). */
export function blockWeights(type: TensorType): number {
  return layouts[type].weights;
}

/** Bytes per weight of `type` (34/32 for q8_0, ...). */
export function bytesPerWeight(type: TensorType): number {
  return layouts[type].bytes / layouts[type].weights;
}

/** Bytes of a [rows][cols] tensor of `type`; throws when a row is not whole blocks. */
export function tensorByteLength(type: TensorType, rows: number, cols: number): number {
  if (!isTensorType(type)) {
    throw new AllocatorError('UNSUPPORTED_TYPE', `Unknown tensor type ${String(type)}: one of ${TENSOR_TYPES.join(', ')}.`);
  }
  const { weights, bytes } = layouts[type];
  if (cols % weights !== 0) {
    throw new AllocatorError('INVALID_ARGUMENT', `A ${type} row holds whole blocks of ${weights} weights; rows of ${cols} do not.`);
  }
  return rows * (cols / weights) * bytes;
}
