import type { CacheGeometry, DecodeEviction, KvStore, LayerObservation } from '../../src/index.js';
import { randomObservations, xorshift } from '../compression/random-observations.js';

/** One decode step of one layer: the K/V row it appends per KV head and its query row per query head. */
export interface StepRows {
  readonly key: Float32Array;
  readonly value: Float32Array;
  readonly query: Float32Array;
}

/** A random decode stream: the prompt's observations, then per step per layer one K/V and one query row. */
export interface DecodeStream {
  readonly prompt: LayerObservation[];
  readonly decode: StepRows[][];
}

export function decodeStream(geometry: CacheGeometry, promptLength: number, steps: number, seed: number): DecodeStream {
  const prompt = randomObservations(geometry, promptLength, seed);
  const random = xorshift(seed * 7 + 1);
  const rows = (size: number) => Float32Array.from({ length: size }, () => (random() * 2 - 1) * 1.5);
  const { layers, kvHeads, queryHeads, headDim } = geometry;
  const decode = Array.from({ length: steps }, () =>
    Array.from({ length: layers }, () => ({ key: rows(kvHeads * headDim), value: rows(kvHeads * headDim), query: rows(queryHeads * headDim) })),
  );
  return { prompt, decode };
}

/** The positions every (layer, KV head) of a store holds, layer-major. */
export function heldPositions(store: KvStore): number[][][] {
  const { layers, kvHeads } = store.geometry;
  return Array.from({ length: layers }, (_, l) => Array.from({ length: kvHeads }, (_, h) => Array.from(store.positions(l, h))));
}

/**
 * Streams `stream` through `store` as a forward pass would (the prompt appended, then per step each
 * layer's K/V appended and its query attended, which records the row) with `policy` evicting after
 * prefill and after each step; `check` sees the store after prefill (step -1) and after every step.
 */
export async function runStream(store: KvStore, policy: DecodeEviction, stream: DecodeStream, check: (step: number) => void | Promise<void>): Promise<void> {
  const n = stream.prompt[0]!.keys.length / (store.geometry.kvHeads * store.geometry.headDim);
  const positions = Int32Array.from({ length: n }, (_, t) => t);
  stream.prompt.forEach((o, layer) => store.append(layer, o.keys, o.values, positions));
  await policy.afterPrefill(stream.prompt);
  await check(-1);
  const out = new Float32Array(store.geometry.queryHeads * store.geometry.headDim);
  for (const [s, layers] of stream.decode.entries()) {
    for (const [layer, { key, value, query }] of layers.entries()) {
      store.append(layer, key, value, Int32Array.of(n + s));
      await store.attend(layer, query, out);
    }
    await policy.afterStep(n + s);
    await check(s);
  }
}
