import type { CompressionPlan } from '../compression-plan.js';
import { ShapeError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import { attentionProbabilities } from '../scorers/attention-probabilities.js';
import { observationHeadContext, observedLength } from '../scorers/observation-context.js';

/**
 * What the metrics look at, per (layer, KV head): the causal attention of the last `window` prompt
 * queries of the group over all `n` keys, `[rows][groupSize][n]`.
 */
export function windowAttention(geometry: CacheGeometry, observation: LayerObservation, head: number, window: number): Float32Array {
  return attentionProbabilities(observationHeadContext(geometry, observation, head, window), window);
}

/** Checks that a plan was made for these observations (same layers, heads and prompt length). */
export function checkPlanFits(geometry: CacheGeometry, observations: readonly LayerObservation[], plan: CompressionPlan): number {
  const n = observedLength(geometry, observations[0]!);
  const fits =
    observations.length === geometry.layers &&
    plan.layers.length === geometry.layers &&
    plan.layers.every((l) => l.kept.length === geometry.kvHeads && l.kept.every((k) => k.every((t) => t >= 0 && t < n)));
  if (!fits) {
    throw new ShapeError(
      `The plan (${plan.layers.length} layers) does not fit these observations (${observations.length} layers x ` +
        `${geometry.kvHeads} KV heads x ${n} tokens); metrics need the plan made from them.`,
    );
  }
  return n;
}

/** Per-layer values and their overall mean. */
export interface LayerSummary {
  /** `[layer][kvHead]`. */
  readonly perHead: readonly Float64Array[];
  /** Mean over each layer's heads. */
  readonly perLayer: readonly number[];
  /** Mean over every layer and head. */
  readonly mean: number;
}

export function summarize(perHead: Float64Array[]): LayerSummary {
  const perLayer = perHead.map((heads) => heads.reduce((a, b) => a + b, 0) / heads.length);
  return { perHead, perLayer, mean: perLayer.reduce((a, b) => a + b, 0) / perLayer.length };
}
