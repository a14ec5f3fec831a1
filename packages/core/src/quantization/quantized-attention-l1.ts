import type { KvFormat } from '@adakv/allocator-wasm';
import { OptionError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import { groupSize } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import { observationHeadContext, observationHeadValues, observedLength } from '../scorers/observation-context.js';
import { quantizeHeadRows } from './quantize-head-rows.js';

/** One (layer, KV head) of a {@link HeldOutReference}. */
interface HeadReference {
  readonly keys: Float32Array;
  readonly values: Float32Array;
  /** The held-out query rows `[count][groupSize][d]`. */
  readonly queries: Float32Array;
  /** The exact attention output of each held-out query `[count][groupSize][d]`, f64. */
  readonly full: Float64Array;
}

/**
 * The exact attention outputs of held-out queries over a prompt's full f32 K/V, per (layer, KV head):
 * what {@link keptOutputL1} compares every candidate cache with (made once per prompt). The queries are
 * the `window` prompt rows just before the observation window, which no method scores with: the
 * window's own queries chose the kept entries, so over them an evicted cache looks better than it is
 * (over them, at 1/8 of the bytes, 80 int8 entries per head scored better than 133 int4 ones, which
 * agree with the full cache on 5 more tokens in 100).
 */
export interface HeldOutReference {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  /** Prompt tokens. */
  readonly n: number;
  /** Position of the first held-out query: `max(0, n - 2 x window)`. */
  readonly first: number;
  /** Held-out queries compared: those from `first` up to the observation window (0 when the prompt is no longer than it). */
  readonly count: number;
}

/** The per-head data of each reference, `[layer][head]` (kept out of the public shape). */
const headsOf = new WeakMap<HeldOutReference, readonly (readonly HeadReference[])[]>();

/**
 * Causal softmax(q K^T / sqrt(d)) V in f64 of one query at prompt position `position` over `rows`
 * (entries at `indices`, ascending, of which those at or before `position` are visible); adds it into `out`.
 */
function attend(q: Float32Array, qAt: number, keys: Float32Array, values: Float32Array, indices: ArrayLike<number>, position: number, d: number, out: Float64Array): void {
  const scale = 1 / Math.sqrt(d);
  let visible = 0;
  while (visible < indices.length && indices[visible]! <= position) visible++;
  if (visible === 0) return;
  const logits = new Float64Array(visible);
  let max = -Infinity;
  for (let r = 0; r < visible; r++) {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += q[qAt + i]! * keys[r * d + i]!;
    logits[r] = dot * scale;
    max = Math.max(max, logits[r]!);
  }
  let total = 0;
  for (let r = 0; r < visible; r++) total += logits[r] = Math.exp(logits[r]! - max);
  for (let r = 0; r < visible; r++) {
    const p = logits[r]! / total;
    for (let i = 0; i < d; i++) out[i]! += p * values[r * d + i]!;
  }
}

/**
 * Exact outputs of a prompt's held-out queries (the `window` rows before the observation window of
 * `window` tokens; queries after RoPE, K/V as prefill appended them).
 */
export function heldOutReference(geometry: CacheGeometry, observations: readonly LayerObservation[], window: number): HeldOutReference {
  const { headDim: d } = geometry;
  const g = groupSize(geometry);
  const n = observations.length > 0 ? observedLength(geometry, observations[0]!) : 0;
  const end = Math.max(0, n - window);
  const first = Math.max(0, end - window);
  const count = end - first;
  const all = Int32Array.from({ length: n }, (_, t) => t);
  const heads = observations.map((observation) =>
    Array.from({ length: geometry.kvHeads }, (_, head): HeadReference => {
      const context = observationHeadContext(geometry, observation, head, window);
      const values = observationHeadValues(geometry, observation, head);
      const queries = context.queries.slice(first * g * d, end * g * d);
      const full = new Float64Array(count * g * d);
      for (let row = 0; row < count; row++) {
        for (let m = 0; m < g; m++) attend(queries, (row * g + m) * d, context.keys, values, all, first + row, d, full.subarray((row * g + m) * d));
      }
      return { keys: context.keys, values, queries, full };
    }),
  );
  const reference: HeldOutReference = { geometry, n, first, count };
  headsOf.set(reference, heads);
  return reference;
}

function gather(rows: Float32Array, kept: Int32Array, d: number): Float32Array {
  const out = new Float32Array(kept.length * d);
  kept.forEach((t, r) => out.set(rows.subarray(t * d, (t + 1) * d), r * d));
  return out;
}

/** A format for every (layer, KV head), or one for all. */
export type HeadFormats = KvFormat | readonly (readonly KvFormat[])[];

const formatOf = (formats: HeadFormats, layer: number, head: number): KvFormat => (typeof formats === 'string' ? formats : formats[layer]![head]!);

/**
 * Attention-output L1 over the held-out queries between the full exact cache and a cache that keeps
 * `kept[layer][head]` (ascending prompt indices) stored in `formats` (one for all heads, or
 * `[layer][head]`) as the pool holds them after {@link storeKeptRows} (blocks of `blockSize` over the
 * kept rows, the partly filled last one encoded): per (layer, KV head), the mean over its group's
 * held-out queries. 0 for the full f32 cache, and for any cache when there are no held-out queries.
 */
export function headOutputL1s(reference: HeldOutReference, kept: readonly (readonly Int32Array[])[], formats: HeadFormats, blockSize: number): number[][] {
  const { geometry, first, count } = reference;
  const { headDim: d } = geometry;
  const g = groupSize(geometry);
  const out = new Float64Array(d);
  const heads = headsOf.get(reference);
  if (!heads) throw new OptionError('keptOutputL1 needs a reference made by heldOutReference.');
  return heads.map((layer, l) =>
    layer.map((head, h) => {
      const indices = kept[l]![h]!;
      const stored = quantizeHeadRows(formatOf(formats, l, h), gather(head.keys, indices, d), gather(head.values, indices, d), d, blockSize, { lastBlock: 'encoded' });
      let l1 = 0;
      for (let row = 0; row < count; row++) {
        for (let m = 0; m < g; m++) {
          const at = (row * g + m) * d;
          out.fill(0);
          attend(head.queries, at, stored.keys, stored.values, indices, first + row, d, out);
          for (let i = 0; i < d; i++) l1 += Math.abs(head.full[at + i]! - out[i]!);
        }
      }
      return count > 0 ? l1 / (count * g) : 0;
    }),
  );
}

/** The mean of per-head errors `[layer][head]` (as {@link headOutputL1s} gives them). */
export function meanOverHeads(perHead: readonly (readonly number[])[]): number {
  const all = perHead.flat();
  return all.reduce((a, b) => a + b, 0) / all.length;
}

/** {@link headOutputL1s} averaged over heads and layers. */
export function keptOutputL1(reference: HeldOutReference, kept: readonly (readonly Int32Array[])[], formats: HeadFormats, blockSize: number): number {
  return meanOverHeads(headOutputL1s(reference, kept, formats, blockSize));
}
