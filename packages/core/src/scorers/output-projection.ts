import { OptionError, ShapeError } from '../errors.js';
import { type CacheGeometry, groupSize } from '../geometry.js';
import type { Model } from '../model/model.js';
import type { Scorer } from './types.js';

/**
 * A model's attention output projections, by layer: `(layer) => wo`, each `[modelDim][queryHeads *
 * headDim]` row-major (PyTorch `o_proj.weight`). Value-aware scorers (CriticalKV) weigh each entry by
 * the norm of its value projected through it. A function, so a model whose weights are dequantized
 * on first use pays nothing unless such a method runs. See {@link modelOutputProjection}.
 */
export type OutputProjection = (layer: number) => Float32Array;

/** The output projections of `model` (its layers' `wo`), as planners and decode-time eviction take them. */
export function modelOutputProjection(model: Model): OutputProjection {
  return (layer) => {
    const weights = model.weights.layers[layer];
    if (!weights) throw new ShapeError(`The model has ${model.weights.layers.length} layers; no output projection for layer ${layer}.`);
    return weights.wo;
  };
}

/** Whether `scorer` reads the model's output projection (then a planner must be given one). */
export function readsOutputProjection(scorer: Pick<Scorer<never>, 'reads'> | null): boolean {
  return scorer?.reads?.includes('outputProjection') ?? false;
}

/** Whether `scorer` reads the cached values. */
export function readsValues(scorer: Pick<Scorer<never>, 'reads'> | null): boolean {
  return scorer?.reads?.includes('values') ?? false;
}

/** The error a planner throws when a method that scores with W_o is planned without it. */
export function missingOutputProjection(method: string): OptionError {
  return new OptionError(
    `Method "${method}" weighs entries by their values projected through the model's output matrix W_o, and none was given: ` +
      'pass outputProjection: modelOutputProjection(model) in the request (the Generator, the Scheduler and the evaluations pass it themselves).',
  );
}

/**
 * The columns of one layer's W_o that KV head `head`'s query heads write through, laid out
 * `[modelDim][groupSize][headDim]` (see `HeadContext.outputProjection`).
 */
export function headOutputProjection(geometry: CacheGeometry, wo: Float32Array, head: number): Float32Array {
  const { queryHeads, headDim: d } = geometry;
  const g = groupSize(geometry);
  const width = queryHeads * d;
  const modelDim = wo.length / width;
  if (!Number.isInteger(modelDim) || modelDim < 1) {
    throw new ShapeError(`An output projection must be [modelDim][${queryHeads} x ${d}] floats; got ${wo.length}, not a multiple of ${width}.`);
  }
  const out = new Float32Array(modelDim * g * d);
  for (let j = 0; j < modelDim; j++) out.set(wo.subarray(j * width + head * g * d, j * width + (head + 1) * g * d), j * g * d);
  return out;
}

/**
 * CriticalKV's value weight of every entry of a head: the L1 norm of each value projected through the
 * W_o columns of each query head of the group, `sum_j |sum_i W_o[j][q*d + i] v[i]|`, averaged over the
 * group (kvpress `vwl1norm`). `values` is `[length][headDim]`, `projection` as {@link headOutputProjection}.
 */
export function projectedValueNorms(values: Float32Array, projection: Float32Array, groupSize: number, headDim: number): Float64Array {
  const length = values.length / headDim;
  const modelDim = projection.length / (groupSize * headDim);
  const out = new Float64Array(length);
  for (let t = 0; t < length; t++) {
    const v = values.subarray(t * headDim, (t + 1) * headDim);
    let total = 0;
    for (let j = 0; j < modelDim; j++) {
      for (let m = 0; m < groupSize; m++) {
        const row = (j * groupSize + m) * headDim;
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += projection[row + i]! * v[i]!;
        total += Math.abs(dot);
      }
    }
    out[t] = total / groupSize;
  }
  return out;
}
