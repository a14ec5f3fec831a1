import { ShapeError } from '../errors.js';
import { type CacheGeometry, groupSize } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import type { HeadContext } from './types.js';

/** Prompt length of a layer's observation, checked against the geometry. */
export function observedLength(geometry: CacheGeometry, observation: LayerObservation): number {
  const { queryHeads, kvHeads, headDim } = geometry;
  const n = observation.keys.length / (kvHeads * headDim);
  if (
    !Number.isInteger(n) ||
    observation.values.length !== observation.keys.length ||
    observation.queries.length !== n * queryHeads * headDim
  ) {
    throw new ShapeError(
      `Observation: keys/values must be [n][${kvHeads}][${headDim}] and queries [n][${queryHeads}][${headDim}] ` +
        `for one n; got ${observation.keys.length}, ${observation.values.length} and ${observation.queries.length} floats.`,
    );
  }
  return n;
}

/**
 * The {@link HeadContext} of KV head `head` right after prefill: all `n` keys at positions `0..n-1`
 * and all `n` query rows of its group; the last `protectedCount` entries are the observation window.
 * Carries `head`; the caller adds `layer` (and values or W_o columns when its scorer reads them).
 */
export function observationHeadContext(
  geometry: CacheGeometry,
  observation: LayerObservation,
  head: number,
  protectedCount: number,
): HeadContext {
  const n = observedLength(geometry, observation);
  const { kvHeads, headDim: d } = geometry;
  const g = groupSize(geometry);
  const keys = new Float32Array(n * d);
  const queries = new Float32Array(n * g * d);
  for (let t = 0; t < n; t++) {
    keys.set(observation.keys.subarray((t * kvHeads + head) * d, (t * kvHeads + head + 1) * d), t * d);
    const q = (t * kvHeads + head) * g * d; // query heads of one group are adjacent in a token's row
    queries.set(observation.queries.subarray(q, q + g * d), t * g * d);
  }
  const positions = Int32Array.from({ length: n }, (_, t) => t);
  return {
    keys,
    positions,
    queries,
    queryPositions: positions,
    headDim: d,
    groupSize: g,
    protectedCount: Math.min(protectedCount, n),
    head,
  };
}

/** One head's values `[n][headDim]` from a layer observation. */
export function observationHeadValues(geometry: CacheGeometry, observation: LayerObservation, head: number): Float32Array {
  const n = observedLength(geometry, observation);
  const { kvHeads, headDim: d } = geometry;
  const values = new Float32Array(n * d);
  for (let t = 0; t < n; t++) {
    values.set(observation.values.subarray((t * kvHeads + head) * d, (t * kvHeads + head + 1) * d), t * d);
  }
  return values;
}
