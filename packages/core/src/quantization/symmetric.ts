// Symmetric integer quantization in f32 arithmetic, step for step as allocator-wasm's kv_format.cpp
// runs it (WASM f32 division and rounding are IEEE, so Math.fround reproduces them bit for bit).
import { storedScale } from './half.js';

/** Levels on each side of zero: int8 stores q in [-127, 127], int4 q in [-7, 7]. */
export type Levels = 127 | 7;

/**
 * The scale a block stores for `count` values `stride` apart from `start`: max|x| / levels in f32,
 * rounded up to binary16 (0 for all zeros).
 */
export function scaleOf(x: Float32Array, start: number, count: number, stride: number, levels: Levels): number {
  let peak = 0;
  for (let i = 0; i < count; i++) peak = Math.max(peak, Math.abs(x[start + i * stride]!));
  return storedScale(Math.fround(peak / levels));
}

/** Rounds to the nearest integer, ties to even (WASM `f32.nearest`, C's `nearbyint`). */
function nearestEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** `x` as the pool stores it with scale `s`: round(x / s) clamped to the levels, times `s`, in f32. */
export function roundTrip(x: number, s: number, levels: Levels): number {
  if (s === 0) return 0;
  const q = Math.min(levels, Math.max(-levels, nearestEven(Math.fround(x / s))));
  return Math.fround(q * s);
}
