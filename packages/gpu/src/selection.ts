import type { Dispatcher } from './dispatcher.js';
import { GpuError } from './errors.js';

/**
 * Per-head top-k on the GPU: for each head, the indices of its `caps[h]` best scores in ascending
 * order (what compaction keeps). Ties go to the lower index; heads may have different lengths; a cap
 * above a head's length keeps the whole head. Scores must not be NaN.
 */
export async function selectTopK(d: Dispatcher, scores: readonly Float32Array[], caps: ArrayLike<number>): Promise<Int32Array[]> {
  const heads = scores.length;
  if (heads > 65535) throw new GpuError('INVALID_ARGUMENT', `selectTopK: at most 65,535 heads per call, got ${heads}; split the call.`);
  if (caps.length !== heads) throw new GpuError('INVALID_ARGUMENT', `selectTopK: got ${caps.length} caps for ${heads} heads; pass one cap per head.`);
  const offsets = new Uint32Array(heads + 1);
  const capped = new Uint32Array(heads);
  for (let h = 0; h < heads; h++) {
    const cap = caps[h]!;
    if (!Number.isInteger(cap) || cap < 0) throw new GpuError('INVALID_ARGUMENT', `selectTopK: cap ${h} must be a non-negative integer, got ${cap}.`);
    if (scores[h]!.some(Number.isNaN)) throw new GpuError('INVALID_ARGUMENT', `selectTopK: head ${h} has a NaN score; scores must be numbers.`);
    capped[h] = Math.min(cap, scores[h]!.length);
    offsets[h + 1] = offsets[h]! + scores[h]!.length;
  }
  const total = offsets[heads]!;
  if (capped.every((c) => c === 0)) return capped.length === 0 ? [] : Array.from(capped, () => new Int32Array(0));
  const flat = new Float32Array(total);
  scores.forEach((row, h) => flat.set(row, offsets[h]!));
  const storage = GPUBufferUsage.STORAGE;
  const kept = d.temp(total * 4, storage | GPUBufferUsage.COPY_SRC);
  encodeSelectTopK(d, d.temp(flat.byteLength, storage, flat), d.temp(offsets.byteLength, storage, offsets), d.temp(capped.byteLength, storage, capped), kept, heads);
  const indices = new Int32Array(await d.read(kept, total * 4));
  return Array.from(capped, (count, h) => indices.slice(offsets[h]!, offsets[h]! + count));
}

/**
 * Encodes {@link selectTopK} on buffers already on the GPU, without submitting: head `h` owns
 * `scores[offsets[h], offsets[h + 1])` (f32, no NaN; `offsets` `[heads + 1]` u32) and keeps its
 * `min(caps[h], length)` best (`caps` `[heads]` u32), written in ascending index order (ties to the
 * lower index) at the start of the same range of `kept` (u32).
 */
export function encodeSelectTopK(d: Dispatcher, scores: GPUBuffer, offsets: GPUBuffer, caps: GPUBuffer, kept: GPUBuffer, heads: number): void {
  if (!Number.isInteger(heads) || heads < 1 || heads > 65535) throw new GpuError('INVALID_ARGUMENT', `selectTopK: needs 1..65,535 heads per call, got ${heads}.`);
  d.run('topkSelect', { heads }, [scores, offsets, caps, kept], { x: heads });
}
