import type { CompressionPlan } from '../compression-plan.js';
import { OptionError, ShapeError } from '../errors.js';
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

/** Checks that observations cover every layer of the geometry with one non-empty prompt; returns its length. */
export function checkObservations(geometry: CacheGeometry, observations: readonly LayerObservation[]): number {
  if (observations.length !== geometry.layers) {
    throw new ShapeError(`Metrics need one observation per layer: the geometry has ${geometry.layers} layers, got ${observations.length}.`);
  }
  const lengths = observations.map((o) => observedLength(geometry, o));
  const n = lengths[0]!;
  if (n < 1 || lengths.some((length) => length !== n)) {
    throw new ShapeError(`Metrics need the same non-empty prompt in every layer; got lengths ${lengths.join(', ')}.`);
  }
  return n;
}

/** Checks the observation window: a whole number of queries >= 1 (capped at the prompt length). */
export function checkWindow(window: number): void {
  if (!Number.isInteger(window) || window < 1) {
    throw new OptionError(`The observation window must be a whole number of queries >= 1, got ${window}.`);
  }
}

/**
 * Checks that a plan was made for these observations: same layers and KV heads, kept indices strictly
 * ascending inside the prompt (a repeated index would count its attention twice).
 */
export function checkPlanFits(geometry: CacheGeometry, observations: readonly LayerObservation[], plan: CompressionPlan): number {
  const n = checkObservations(geometry, observations);
  checkWindow(plan.window);
  const ascendingInside = (kept: Int32Array) => kept.every((t, i) => t >= 0 && t < n && (i === 0 || t > kept[i - 1]!));
  const fits =
    plan.layers.length === geometry.layers &&
    plan.layers.every((l) => l.kept.length === geometry.kvHeads && l.kept.every(ascendingInside));
  if (!fits) {
    throw new ShapeError(
      `The plan (${plan.layers.length} layers) does not fit these observations (${observations.length} layers x ` +
        `${geometry.kvHeads} KV heads x ${n} tokens, kept indices strictly ascending); metrics need the plan made from them.`,
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
