import type { KvStore } from '@adakv/core';

/** One sequence's cache at one moment of decoding, as the live view samples it. */
export interface CacheSample {
  /** Tokens decoded so far (0: right after prefill and its compression). */
  readonly step: number;
  /** Entries decode-time eviction has removed so far (core's own count). */
  readonly evictedSoFar: number;
  /** The absolute positions each KV head holds: `[layer][head]`. */
  readonly positions: readonly (readonly Int32Array[])[];
}

/** What one frame of the live view shows. */
export interface CacheFrame {
  readonly step: number;
  /** Entries each KV head holds: `[layer][head]`. */
  readonly held: readonly (readonly number[])[];
  /** Entries each KV head held at the previous frame and holds no more: `[layer][head]`. */
  readonly evictedSince: readonly (readonly number[])[];
  readonly heldTotal: number;
  readonly evictedSinceTotal: number;
  readonly evictedSoFar: number;
  /** Average entries per KV head of each layer: what a decode-time limit bounds. */
  readonly layerMeans: readonly number[];
}

/**
 * Copies what `store` holds now. A copy, because the store changes under the next step and the page
 * draws the sample later (at the next animation frame).
 */
export function sampleCache(store: KvStore, step: number, evictedSoFar: number): CacheSample {
  const { layers, kvHeads } = store.geometry;
  const positions = Array.from({ length: layers }, (_, layer) => Array.from({ length: kvHeads }, (_, head) => store.positions(layer, head).slice()));
  return { step, evictedSoFar, positions };
}

/** Positions in `before` that `after` no longer holds (evicted: a held entry never moves or comes back). */
function removed(before: Int32Array, after: Int32Array): number {
  const kept = new Set(after);
  let count = 0;
  for (const position of before) if (!kept.has(position)) count++;
  return count;
}

const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);

/** The frame for `current`, evictions counted since `previous` (the frame drawn before; none for the first). */
export function cacheFrame(previous: CacheSample | null, current: CacheSample): CacheFrame {
  const held = current.positions.map((heads) => heads.map((positions) => positions.length));
  const evictedSince = current.positions.map((heads, layer) =>
    heads.map((positions, head) => {
      const before = previous?.positions[layer]?.[head];
      return before ? removed(before, positions) : 0;
    }),
  );
  return {
    step: current.step,
    held,
    evictedSince,
    heldTotal: sum(held.flat()),
    evictedSinceTotal: sum(evictedSince.flat()),
    evictedSoFar: current.evictedSoFar,
    layerMeans: held.map((heads) => sum(heads) / Math.max(1, heads.length)),
  };
}
