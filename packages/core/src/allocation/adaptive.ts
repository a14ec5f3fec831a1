import { roundHalfEven } from './round-half-even.js';
import { countTopAcrossHeads } from './top-k.js';

/**
 * Ada-KV's head allocation (Feng et al., 2024, arXiv 2407.11550): take the top `heads x B'` scores of
 * the layer across all heads, count `c_h` per head, then apply the safeguard
 * `cap_h = roundHalfEven(c_h (1 - alpha) + floor(B' alpha))` so every head keeps a floor. The sum may
 * miss `heads x B'` by rounding, as in the reference. `alpha = 1` is exactly uniform allocation;
 * nothing is evicted when the budget covers every entry.
 */
export function adaptiveAllocation(scores: readonly Float32Array[], selectable: number, alpha: number): Int32Array {
  const entries = scores.reduce((sum, row) => sum + row.length, 0);
  if (entries <= scores.length * selectable) return Int32Array.from(scores, (row) => row.length); // the budget covers everything
  const counts = countTopAcrossHeads(scores, scores.length * selectable);
  return safeguardCaps(counts, Int32Array.from(scores, (row) => row.length), selectable, alpha);
}

/**
 * Ada-KV's safeguard over per-head counts `c_h` (however they were found, on the CPU or the GPU):
 * `cap_h = roundHalfEven(c_h (1 - alpha) + floor(B' alpha))`, within `[0, lengths[h]]`.
 */
export function safeguardCaps(counts: ArrayLike<number>, lengths: ArrayLike<number>, selectable: number, alpha: number): Int32Array {
  const floor = Math.floor(selectable * alpha);
  return Int32Array.from({ length: lengths.length }, (_, head) =>
    Math.min(lengths[head]!, Math.max(0, roundHalfEven(counts[head]! * (1 - alpha) + floor))),
  );
}
