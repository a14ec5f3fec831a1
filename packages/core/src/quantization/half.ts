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

/**
 * The scale an int8/int4 block stores for the f32 scale `s >= 0`: the smallest binary16 >= it (so no
 * element clamps), saturated at 65504; 0 stays 0.
 */
export function storedScale(s: number): number {
  if (!(s > 0)) return 0;
  let h = floatToHalf(Math.fround(s));
  if (h >= 0x7c00) return 65504;
  if (halfToFloat(h) < s) h++;
  return h > 0x7bff ? 65504 : halfToFloat(h);
}
