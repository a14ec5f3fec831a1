import type { CompressionPlan } from '../compression-plan.js';
import type { CacheGeometry } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import { observationHeadValues } from '../scorers/observation-context.js';
import { type LayerSummary, checkPlanFits, summarize, windowAttention } from './window-attention.js';

/**
 * The quantity Ada-KV bounds: the L1 distance between the attention output over all keys and over the
 * kept keys only (softmax renormalised over them), for each observation-window query of each query
 * head; mean per (layer, KV head). 0 when nothing is evicted.
 */
export function attentionOutputL1(geometry: CacheGeometry, observations: readonly LayerObservation[], plan: CompressionPlan): LayerSummary {
  const n = checkPlanFits(geometry, observations, plan);
  const { headDim: d } = geometry;
  const full = new Float64Array(d);
  const kept = new Float64Array(d);
  const perHead = observations.map((observation, layer) =>
    Float64Array.from({ length: geometry.kvHeads }, (_, head) => {
      const p = windowAttention(geometry, observation, head, plan.window);
      const v = observationHeadValues(geometry, observation, head);
      const keptIndices = plan.layers[layer]!.kept[head]!;
      const queries = p.length / n; // window rows x the group's query heads
      let total = 0;
      for (let query = 0; query < queries; query++) {
        const base = query * n;
        full.fill(0);
        kept.fill(0);
        for (let t = 0; t < n; t++) for (let i = 0; i < d; i++) full[i]! += p[base + t]! * v[t * d + i]!;
        let keptMass = 0;
        for (const t of keptIndices) {
          keptMass += p[base + t]!;
          for (let i = 0; i < d; i++) kept[i]! += p[base + t]! * v[t * d + i]!;
        }
        for (let i = 0; i < d; i++) total += Math.abs(full[i]! - (keptMass > 0 ? kept[i]! / keptMass : 0));
      }
      return total / queries;
    }),
  );
  return summarize(perHead);
}
