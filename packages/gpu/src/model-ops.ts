import type { Dispatcher } from './dispatcher.js';
import { GpuError } from './errors.js';

/** WebGPU's default `maxComputeWorkgroupsPerDimension`. */
const MAX_GROUPS = 65535;
/** Outputs per side of one workgroup's tile of the matrix product. */
const MATMUL_TILE = 64;

function checkCount(op: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new GpuError('INVALID_ARGUMENT', `${op}: ${name} must be a positive integer, got ${value}.`);
}

/**
 * Encodes `out = a w^T` (`+= ` with `accumulate`): `a` is `[rows][inDim]`, `w` is `[outDim][inDim]`
 * (row-major, as model files store weights), `out` is `[rows][outDim]`. 64 x 64 output tiles staged
 * through workgroup memory, 4 x 4 outputs per thread in registers.
 */
export function encodeMatmul(d: Dispatcher, a: GPUBuffer, w: GPUBuffer, out: GPUBuffer, shape: { rows: number; inDim: number; outDim: number; accumulate?: boolean }): void {
  const { rows, inDim, outDim } = shape;
  for (const [name, value] of Object.entries({ rows, inDim, outDim })) checkCount('matmul', name, value);
  const x = Math.ceil(outDim / MATMUL_TILE);
  const y = Math.ceil(rows / MATMUL_TILE);
  if (x > MAX_GROUPS || y > MAX_GROUPS) throw new GpuError('INVALID_ARGUMENT', `matmul: ${rows} x ${outDim} outputs need more than ${MAX_GROUPS} tiles along one side; split the call.`);
  d.run('matmul', { rows, inDim, outDim, accumulate: shape.accumulate ? 1 : 0 }, [a, w, out], { x, y });
}

/**
 * Encodes `out = w x` for `rows` vectors (`x` `[rows][inDim]`, `out` `[rows][outDim]`, `w`
 * `[outDim][inDim]` from float `weightOffset`): the decode step's projections, one vector per sequence
 * of a batch. Threads per weight row grow with its length (a power of two, about one per 32 products,
 * at most the 64 of a workgroup), so short rows share workgroups. Several vectors take `matvec-batch`,
 * where each weight read serves up to 8 of them; a vector's products are summed in the same order
 * either way.
 */
export function encodeMatvec(d: Dispatcher, w: GPUBuffer, x: GPUBuffer, out: GPUBuffer, shape: { inDim: number; outDim: number; weightOffset?: number; rows?: number }): void {
  const { inDim, outDim, weightOffset = 0, rows = 1 } = shape;
  checkCount('matvec', 'inDim', inDim);
  checkCount('matvec', 'outDim', outDim);
  checkCount('matvec', 'rows', rows);
  const lanes = Math.min(64, 2 ** Math.ceil(Math.log2(Math.max(1, inDim / 32))));
  const grid = { groups: Math.ceil(outDim / (64 / lanes)) };
  if (rows === 1) d.run('matvec', { inDim, outDim, weightOffset, lanes }, [w, x, out], grid);
  else d.run('matvecBatch', { inDim, outDim, weightOffset, lanes, rows }, [w, x, out], grid);
}

/** Prompt tokens one `causal-attention` workgroup attends for (its queries share every K/V read). */
const CAUSAL_BLOCK = 8;

/** The most prompt tokens {@link encodeCausalAttention} takes in one dispatch. */
export const MAX_CAUSAL_TOKENS = MAX_GROUPS * CAUSAL_BLOCK;

/**
 * Encodes prefill attention: for every token of `q` (`[tokens][queryHeads][headDim]`), softmax over
 * the keys at or before it (`k`, `v`: `[tokens][kvHeads][headDim]`) into `out` (shaped as `q`).
 */
export function encodeCausalAttention(d: Dispatcher, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer, shape: { tokens: number; queryHeads: number; kvHeads: number; headDim: number }): void {
  const { tokens, queryHeads, kvHeads, headDim } = shape;
  for (const [name, value] of Object.entries(shape)) checkCount('causal attention', name, value);
  if (headDim > 256 || queryHeads % kvHeads !== 0 || tokens > MAX_CAUSAL_TOKENS || queryHeads > MAX_GROUPS) {
    throw new GpuError('INVALID_ARGUMENT', `causal attention: needs head dim <= 256, query heads a multiple of KV heads and at most ${MAX_CAUSAL_TOKENS} tokens; got ${headDim}, ${queryHeads} over ${kvHeads}, ${tokens}.`);
  }
  d.run('causalAttention', { headDim, queryHeads, kvHeads, tokens, scale: 1 / Math.sqrt(headDim) }, [q, k, v, out], { x: queryHeads, y: Math.ceil(tokens / CAUSAL_BLOCK) });
}

/** Encodes a numerically stable softmax, in place, of each row of `x` (`[rows][length]`). */
export function encodeSoftmax(d: Dispatcher, x: GPUBuffer, rows: number, length: number): void {
  checkCount('softmax', 'rows', rows);
  checkCount('softmax', 'length', length);
  const groupsX = Math.min(rows, MAX_GROUPS);
  d.run('softmax', { rows, length }, [x], { x: groupsX, y: Math.ceil(rows / groupsX) });
}

/**
 * Encodes the index of the largest of each row of `x` (`[rows][length]`; ties to the lower index) into
 * `result[row]` (u32): 0xffffffff for a row holding NaN or an infinity (see {@link readArgmax}).
 */
export function encodeArgmax(d: Dispatcher, x: GPUBuffer, result: GPUBuffer, length: number, rows = 1): void {
  checkCount('argmax', 'length', length);
  checkCount('argmax', 'rows', rows);
  if (rows > MAX_GROUPS) throw new GpuError('INVALID_ARGUMENT', `argmax: at most ${MAX_GROUPS} rows per dispatch, got ${rows}.`);
  d.run('argmax', { length, rows }, [x, result], { x: rows });
}

const storage = (): number => GPUBufferUsage.STORAGE;
const readable = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;

/** `a w^T` for `a` `[rows][inDim]` and `w` `[outDim][inDim]`, uploaded, computed and read back. */
export async function matmul(d: Dispatcher, a: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number): Promise<Float32Array> {
  if (a.length !== rows * inDim || w.length !== outDim * inDim) {
    throw new GpuError('INVALID_ARGUMENT', `matmul: expected a of ${rows} x ${inDim} and w of ${outDim} x ${inDim} floats, got ${a.length} and ${w.length}.`);
  }
  const out = d.temp(rows * outDim * 4, readable());
  encodeMatmul(d, d.temp(a.byteLength, storage(), a), d.temp(w.byteLength, storage(), w), out, { rows, inDim, outDim });
  return new Float32Array(await d.read(out, rows * outDim * 4));
}

/** Row-wise softmax of `x` (`[rows][length]`) on the GPU. */
export async function softmaxRows(d: Dispatcher, x: Float32Array, rows: number): Promise<Float32Array> {
  const length = x.length / rows;
  if (!Number.isInteger(length)) throw new GpuError('INVALID_ARGUMENT', `softmax: ${x.length} floats do not split into ${rows} rows.`);
  const buffer = d.temp(x.byteLength, readable(), x);
  encodeSoftmax(d, buffer, rows, length);
  return new Float32Array(await d.read(buffer, x.byteLength));
}

/** The index of the largest value of `x` on the GPU (ties to the lower index); -1 when `x` holds NaN or an infinity. */
export async function argmax(d: Dispatcher, x: Float32Array): Promise<number> {
  const result = d.temp(4, readable());
  encodeArgmax(d, d.temp(x.byteLength, storage(), x), result, x.length);
  return readArgmax(d, result);
}

/** The index `encodeArgmax` wrote into `result`, or -1 for logits that hold NaN or an infinity. */
export async function readArgmax(d: Dispatcher, result: GPUBuffer): Promise<number> {
  return (await readArgmaxRows(d, result, 1))[0]!;
}

/** The `rows` indices `encodeArgmax` wrote into `result`, -1 for a row that holds NaN or an infinity. */
export async function readArgmaxRows(d: Dispatcher, result: GPUBuffer, rows: number): Promise<number[]> {
  return Array.from(new Uint32Array(await d.read(result, rows * 4)), (index) => (index === 0xffffffff ? -1 : index));
}
