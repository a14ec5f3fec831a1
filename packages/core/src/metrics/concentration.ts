import { OptionError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import { checkObservations, checkWindow, windowAttention } from './window-attention.js';

/** How concentrated one KV head's attention is. */
export interface HeadConcentration {
  /** `massAt[k - 1]`: attention mass reached by the `k` most attended entries (k = 1..n). */
  readonly massAt: Float32Array;
  /** Smallest share of the cache that holds `target` of the attention mass. */
  readonly fractionForTarget: number;
}

/** How concentrated every head's attention is (what {@link concentration} returns). */
export interface Concentration {
  /** The attention mass `fractionForTarget` is measured for (0.9 by default). */
  readonly target: number;
  /** `[layer][kvHead]`. */
  readonly heads: readonly (readonly HeadConcentration[])[];
}

/**
 * How concentrated each head's attention is (the paper's motivating figure): sort the entries by the
 * attention the observation window gives them (mean over rows and the group's query heads) and
 * accumulate. A head that reaches 90% with 5% of its cache is cheap to compress; one that needs 60%
 * is not — which is why budgets should differ per head.
 */
export function concentration(geometry: CacheGeometry, observations: readonly LayerObservation[], window: number, target = 0.9): Concentration {
  const n = checkObservations(geometry, observations);
  checkWindow(window);
  if (!(target > 0 && target <= 1)) throw new OptionError(`The target mass must lie in (0, 1], got ${target}.`);
  const w = Math.min(window, n);
  const heads = observations.map((observation) =>
    Array.from({ length: geometry.kvHeads }, (_, head) => {
      const p = windowAttention(geometry, observation, head, w);
      const mean = new Float64Array(n);
      const rows = p.length / n;
      for (let row = 0; row < rows; row++) for (let t = 0; t < n; t++) mean[t]! += p[row * n + t]! / rows;
      const sorted = Array.from(mean).sort((a, b) => b - a);
      const massAt = new Float32Array(n);
      let sum = 0;
      let reached = n;
      sorted.forEach((value, k) => {
        sum += value;
        massAt[k] = sum;
        if (sum >= target - 1e-9 && reached === n) reached = k + 1;
      });
      return { massAt, fractionForTarget: reached / n };
    }),
  );
  return { target, heads };
}
