import type { KvFormat } from '@adakv/allocator-wasm';
import { OptionError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import { groupSize } from '../geometry.js';
import type { LayerObservation } from '../model/observation.js';
import { observationHeadContext, observationHeadValues } from '../scorers/observation-context.js';
import { quantizeHeadRows } from './quantize-head-rows.js';

/** One (layer, KV head) of a {@link WindowReference}. */
interface HeadWindow {
  readonly keys: Float32Array;
  readonly values: Float32Array;
  /** The window's query rows `[w][groupSize][d]`. */
  readonly queries: Float32Array;
  /** The exact attention output of each window query `[w][groupSize][d]`, f64. */
  readonly full: Float64Array;
}

/**
 * The exact attention outputs of the observation window's queries over a prompt's full f32 K/V, per
 * (layer, KV head): what {@link keptOutputL1} compares every candidate cache with (made once per prompt).
 */
export interface WindowReference {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  /** Prompt tokens. */
  readonly n: number;
  /** Window queries compared (the last `min(window, n)` prompt rows). */
  readonly window: number;
}

/** The per-head data of each reference, `[layer][head]` (kept out of the public shape). */
const headsOf = new WeakMap<WindowReference, readonly (readonly HeadWindow[])[]>();

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

/** Exact window outputs of a prompt's observations (queries after RoPE, K/V as prefill appended them). */
export function windowReference(geometry: CacheGeometry, observations: readonly LayerObservation[], window: number): WindowReference {
  const { headDim: d } = geometry;
  const g = groupSize(geometry);
  let n = 0;
  const heads = observations.map((observation) =>
    Array.from({ length: geometry.kvHeads }, (_, head): HeadWindow => {
      const context = observationHeadContext(geometry, observation, head, window);
      n = context.positions.length;
      const w = Math.min(window, n);
      const values = observationHeadValues(geometry, observation, head);
      const queries = context.queries.slice((n - w) * g * d);
      const all = Int32Array.from({ length: n }, (_, t) => t);
      const full = new Float64Array(w * g * d);
      for (let row = 0; row < w; row++) {
        for (let m = 0; m < g; m++) attend(queries, (row * g + m) * d, context.keys, values, all, n - w + row, d, full.subarray((row * g + m) * d));
      }
      return { keys: context.keys, values, queries, full };
    }),
  );
  const reference: WindowReference = { geometry, n, window: Math.min(window, n) };
  headsOf.set(reference, heads);
  return reference;
}

function gather(rows: Float32Array, kept: Int32Array, d: number): Float32Array {
  const out = new Float32Array(kept.length * d);
  kept.forEach((t, r) => out.set(rows.subarray(t * d, (t + 1) * d), r * d));
  return out;
}

/**
 * Mean attention-output L1 over the window's queries between the full exact cache and a cache that
 * keeps `kept[layer][head]` (ascending prompt indices) stored in `format` as the pool holds them after
 * {@link storeKeptRows} (blocks of `blockSize` over the kept rows, the partly filled last one encoded):
 * mean per (layer, KV head) over its group's window queries, then over heads and layers. 0 for the
 * full f32 cache.
 */
export function keptOutputL1(reference: WindowReference, kept: readonly (readonly Int32Array[])[], format: KvFormat, blockSize: number): number {
  const { geometry, n, window: w } = reference;
  const { headDim: d } = geometry;
  const g = groupSize(geometry);
  const out = new Float64Array(d);
  let total = 0;
  const heads = headsOf.get(reference);
  if (!heads) throw new OptionError('keptOutputL1 needs a reference made by windowReference.');
  heads.forEach((layer, l) =>
    layer.forEach((head, h) => {
      const indices = kept[l]![h]!;
      const stored = quantizeHeadRows(format, gather(head.keys, indices, d), gather(head.values, indices, d), d, blockSize, { lastBlock: 'encoded' });
      let l1 = 0;
      for (let row = 0; row < w; row++) {
        for (let m = 0; m < g; m++) {
          const at = (row * g + m) * d;
          out.fill(0);
          attend(head.queries, at, stored.keys, stored.values, indices, n - w + row, d, out);
          for (let i = 0; i < d; i++) l1 += Math.abs(head.full[at + i]! - out[i]!);
        }
      }
      total += l1 / (w * g);
    }),
  );
  return total / (geometry.layers * geometry.kvHeads);
}
