import type { Pooling } from './types.js';

/**
 * 1-D pooling along the sequence, stride 1, padding `floor(k / 2)`, same length — as the reference
 * calls `max_pool1d` / `avg_pool1d`: max ignores the padding, avg counts it (divides by `k`).
 */
export function pool1d(scores: Float32Array, kernelSize: number, mode: Pooling): Float32Array {
  if (kernelSize <= 1) return scores.slice();
  const half = Math.floor(kernelSize / 2);
  const out = new Float32Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const from = Math.max(0, i - half);
    const to = Math.min(scores.length - 1, i + half);
    let acc = mode === 'max' ? -Infinity : 0;
    for (let j = from; j <= to; j++) acc = mode === 'max' ? Math.max(acc, scores[j]!) : acc + scores[j]!;
    out[i] = mode === 'max' ? acc : acc / kernelSize;
  }
  return out;
}
