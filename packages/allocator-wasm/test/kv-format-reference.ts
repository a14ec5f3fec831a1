// f64 twins for the K/V storage formats: the per-element error bound each format guarantees, computed
// from the original rows as the format groups them, and its propagation through attention.
import type { KvFormat } from '../src/index.js';

const LEVELS: Record<KvFormat, number> = { f32: 0, f16: 0, int8: 127, int4: 7 };
const INT4_GROUP = 32;
// f32 roundoff of the scale, of x / s and of q * s: a few ulps relative to the values involved.
const ROUNDOFF = 4e-7;

/**
 * Per element of a head's rows `[rows][d]` (K when `kind` is 'keys'), the most its stored value may
 * differ from it: f16 half an ulp of binary16 (2^-11 relative, 2^-25 absolute below the normal range);
 * int8/int4 half the (binary16) scale of its group: keys per channel over each block of `blockSize`
 * rows, values per row (int8) or per 32 channels of a row (int4).
 */
export function elementBounds(format: KvFormat, kind: 'keys' | 'values', rows: Float32Array, d: number, blockSize: number): Float64Array {
  const count = rows.length / d;
  const bound = new Float64Array(rows.length);
  if (format === 'f32') return bound;
  if (format === 'f16') {
    rows.forEach((x, i) => (bound[i] = Math.max(Math.abs(x) * 2 ** -11, 2 ** -25) * (1 + ROUNDOFF)));
    return bound;
  }
  const levels = LEVELS[format];
  const peak = (indices: number[]) => Math.max(0, ...indices.map((i) => Math.abs(rows[i]!)));
  const groups: number[][] = [];
  if (kind === 'keys') {
    for (let first = 0; first < count; first += blockSize) {
      for (let c = 0; c < d; c++) {
        const group: number[] = [];
        for (let r = first; r < Math.min(count, first + blockSize); r++) group.push(r * d + c);
        groups.push(group);
      }
    }
  } else {
    const width = format === 'int8' ? d : INT4_GROUP;
    for (let r = 0; r < count; r++) {
      for (let c = 0; c < d; c += width) groups.push(Array.from({ length: Math.min(width, d - c) }, (_, j) => r * d + c + j));
    }
  }
  for (const group of groups) {
    // the stored binary16 scale: the smallest one >= peak / levels, within one binary16 step above it
    const exact = peak(group) / levels;
    const scale = exact === 0 ? 0 : Math.max(exact * (1 + 2 ** -10), exact + 2 ** -24);
    for (const i of group) bound[i] = scale / 2 + (scale + Math.abs(rows[i]!)) * ROUNDOFF;
  }
  return bound;
}

/** Plain softmax(q K^T / sqrt(d)) V in f64 with its probabilities; keys/values `[rows][d]`. */
export function attentionF64(query: ArrayLike<number>, keys: ArrayLike<number>, values: ArrayLike<number>, d: number): { out: Float64Array; logits: Float64Array } {
  const rows = keys.length / d;
  const out = new Float64Array(d);
  const logits = new Float64Array(rows);
  if (rows === 0) return { out, logits };
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += query[i]! * keys[r * d + i]!;
    logits[r] = dot / Math.sqrt(d);
  }
  const max = Math.max(...logits);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const weight = Math.exp(logits[r]! - max);
    total += weight;
    for (let i = 0; i < d; i++) out[i]! += weight * values[r * d + i]!;
  }
  return { out: out.map((x) => x / total), logits };
}

/**
 * The most attention over stored K/V may differ, per output element, from attention over the exact
 * K/V, given per-element bounds eK, eV: every logit moves by at most eps = max_r sum_i |q_i| eK[r][i] /
 * sqrt(d), so every probability by a factor within e^(+-2 eps), and
 * |o'_i - o_i| <= (e^(2 eps) - 1) max_r |v_ri| + max_r eV[r][i].
 */
export function attentionBound(query: ArrayLike<number>, values: ArrayLike<number>, eK: Float64Array, eV: Float64Array, d: number): Float64Array {
  const rows = values.length / d;
  let eps = 0;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = 0; i < d; i++) sum += Math.abs(query[i]!) * eK[r * d + i]!;
    eps = Math.max(eps, sum / Math.sqrt(d));
  }
  const growth = Math.expm1(2 * eps);
  const bound = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let vMax = 0;
    let eMax = 0;
    for (let r = 0; r < rows; r++) {
      vMax = Math.max(vMax, Math.abs(values[r * d + i]!));
      eMax = Math.max(eMax, eV[r * d + i]!);
    }
    bound[i] = growth * vMax + eMax;
  }
  return bound;
}
