import type { CompressionPlan } from '../compression-plan.js';
import { type CacheGeometry, groupSize } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import { type LayerSummary, checkPlanFits, summarize, windowAttention } from './window-attention.js';

/**
 * The attention mass the plan keeps: per (layer, KV head), the share of the observation-window
 * queries' attention (mean over window rows and the group's query heads) that falls on kept entries.
 * 1 when nothing is evicted. Ada-KV's allocation maximises its sum.
 */
export function retainedMass(geometry: CacheGeometry, observations: readonly LayerObservation[], plan: CompressionPlan): LayerSummary {
  const n = checkPlanFits(geometry, observations, plan);
  const g = groupSize(geometry);
  const perHead = observations.map((observation, layer) =>
    Float64Array.from({ length: geometry.kvHeads }, (_, head) => {
      const p = windowAttention(geometry, observation, head, plan.window);
      const rows = p.length / (g * n);
      let mass = 0;
      for (let row = 0; row < rows * g; row++) for (const t of plan.layers[layer]!.kept[head]!) mass += p[row * n + t]!;
      return mass / (rows * g);
    }),
  );
  return summarize(perHead);
}
