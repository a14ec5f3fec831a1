// f32 -> binary16 -> f32 exactly as the pool's f16 blocks do it (allocator-wasm src/cpp/kv_format.cpp).
import { floatToHalf, halfToFloat } from '@adakv/allocator-wasm';

/**
 * What an f16 pool gives back for the f32 `value`: rounded to the nearest binary16 (ties to even),
 * saturated at +-65504, NaN stored as 0 (the pool keeps only finite codes).
 */
export function storedHalf(value: number): number {
  if (Number.isNaN(value)) return 0;
  const x = Math.fround(value);
  return halfToFloat(floatToHalf(x > 65504 ? 65504 : x < -65504 ? -65504 : x));
}
