import type { Dispatcher } from './dispatcher.js';
import { GpuError } from './errors.js';

/** The shapes and settings of {@link windowScores}. */
export interface WindowScoreOptions {
  /** Query heads of the layer. */
  readonly queryHeads: number;
  /** Key/value heads of the layer. */
  readonly kvHeads: number;
  /** Width of one head. */
  readonly headDim: number;
  /** Observation window: the last `window` queries score the first `tokens - window` keys. */
  readonly window: number;
  /** SnapKV's pooling kernel (1 or less: no pooling). */
  readonly kernelSize: number;
  /** Pooling along the scores: max or average. */
  readonly pooling: 'max' | 'avg';
  /** How a GQA group's query heads combine. */
  readonly groupReduce: 'mean' | 'max';
}

/**
 * SnapKV scores on the GPU for one layer: keys `[tokens][kvHeads][headDim]` and queries
 * `[tokens][queryHeads][headDim]` (post-RoPE) give `[kvHeads][tokens - window]` pooled scores.
 */
export async function windowScores(d: Dispatcher, keys: Float32Array, queries: Float32Array, o: WindowScoreOptions): Promise<Float32Array> {
  const tokens = keys.length / (o.kvHeads * o.headDim);
  if (!Number.isInteger(tokens) || queries.length !== tokens * o.queryHeads * o.headDim) {
    throw new GpuError('INVALID_ARGUMENT', `windowScores: keys must be [n][${o.kvHeads}][${o.headDim}] and queries [n][${o.queryHeads}][${o.headDim}].`);
  }
  if (!Number.isInteger(o.window) || o.window < 1 || o.window > tokens) {
    throw new GpuError('INVALID_ARGUMENT', `windowScores: the window must be in [1, ${tokens}], got ${o.window}.`);
  }
  const prefix = tokens - o.window;
  if (prefix === 0) return new Float32Array(0);
  const usage = GPUBufferUsage.STORAGE;
  const windowQueries = queries.subarray(prefix * o.queryHeads * o.headDim); // only the window's rows are read
  const probabilities = d.temp(o.queryHeads * o.window * prefix * 4, usage);
  const raw = d.temp(o.kvHeads * prefix * 4, usage);
  const pooled = d.temp(o.kvHeads * prefix * 4, usage | GPUBufferUsage.COPY_SRC);
  d.run(
    'windowAttention',
    { headDim: o.headDim, queryHeads: o.queryHeads, kvHeads: o.kvHeads, tokens, window: o.window, scale: 1 / Math.sqrt(o.headDim) },
    [d.temp(keys.byteLength, usage, keys), d.temp(windowQueries.byteLength, usage, windowQueries), probabilities],
    { x: o.queryHeads, y: o.window },
  );
  d.run('windowReduce', { queryHeads: o.queryHeads, kvHeads: o.kvHeads, window: o.window, prefix, groupMax: o.groupReduce === 'max' ? 1 : 0 }, [probabilities, raw], { threads: o.kvHeads * prefix });
  const lengths = new Uint32Array(o.kvHeads).fill(prefix);
  d.run('pool1d', { heads: o.kvHeads, length: prefix, kernelSize: o.kernelSize, average: o.pooling === 'avg' ? 1 : 0 }, [raw, pooled, d.temp(lengths.byteLength, usage, lengths)], { threads: o.kvHeads * prefix });
  return new Float32Array(await d.read(pooled, o.kvHeads * prefix * 4));
}

/**
 * How many of the top `k` scores of `[heads][length]` each head holds (Ada-KV's `c_h`), by a radix
 * select on the GPU. Ties go to the lower head, then the lower index. Scores must be finite.
 */
export async function adaptiveCounts(d: Dispatcher, scores: Float32Array, heads: number, k: number): Promise<Uint32Array> {
  const length = scores.length / heads;
  if (!Number.isInteger(heads) || heads < 1 || heads > MAX_COUNT_HEADS || !Number.isInteger(length)) {
    throw new GpuError('INVALID_ARGUMENT', `adaptiveCounts: scores must be [heads][length] with 1..256 heads; got ${scores.length} floats for ${heads} heads.`);
  }
  if (scores.some((s) => !Number.isFinite(s))) throw new GpuError('INVALID_ARGUMENT', 'adaptiveCounts: scores must be finite.');
  const counts = d.temp(heads * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  encodeAdaptiveCounts(d, d.temp(scores.byteLength, GPUBufferUsage.STORAGE, scores), counts, { heads, length, k });
  return new Uint32Array(await d.read(counts, heads * 4));
}

/** The radix-select counts kernel ranks up to 256 heads in one workgroup. */
export const MAX_COUNT_HEADS = 256;

/**
 * Encodes {@link adaptiveCounts} on scores already on the GPU (`[heads][length]` f32, finite): zeroes
 * `counts` (`[heads]` u32) and writes how many of the top `k` each head holds (ties to the lower head,
 * then the lower index), without submitting.
 */
export function encodeAdaptiveCounts(d: Dispatcher, scores: GPUBuffer, counts: GPUBuffer, shape: { heads: number; length: number; k: number }): void {
  const { heads, length, k } = shape;
  if (!Number.isInteger(heads) || heads < 1 || heads > MAX_COUNT_HEADS || !Number.isInteger(length) || length < 0) {
    throw new GpuError('INVALID_ARGUMENT', `adaptiveCounts: needs 1..${MAX_COUNT_HEADS} heads and a whole length; got ${heads} and ${length}.`);
  }
  d.clear(counts, 0, heads * 4);
  d.run('adaptiveCounts', { heads, length, k: Math.max(0, Math.floor(k)) }, [scores, counts], { x: 1 });
}
