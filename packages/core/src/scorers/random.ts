import type { HeadContext, Scorer } from './types.js';

/** What the random scorer reads of its method's options. */
export interface RandomScorerOptions {
  /** Seed of the per-entry draws. */
  readonly seed: number;
}

/** A 32-bit integer mix (murmur3's finalizer). */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * One uniform draw in [0, 1) per (seed, layer, KV head, position), exactly representable in f32 (24
 * bits): the same entry gets the same draw on every backend and at every compression, as KV-Compress's
 * random baseline fixes one random metric per cached entry.
 */
export function randomDraw(seed: number, layer: number, head: number, position: number): number {
  let h = mix((seed % 0x100000000) ^ 0x9e3779b9);
  h = mix(h ^ Math.floor(seed / 0x100000000));
  h = mix(h ^ Math.imul(layer + 1, 0x27d4eb2f));
  h = mix(h ^ Math.imul(head + 1, 0x165667b1));
  h = mix(h ^ position);
  return (h >>> 8) / 0x1000000;
}

/**
 * The random-eviction baseline (the sanity check of KV-Compress, arXiv 2410.00161, and kvpress's
 * RandomPress): every entry scores a seeded uniform draw fixed by its layer, KV head and position.
 */
export const randomScorer: Scorer<RandomScorerOptions> = {
  name: 'random',
  score(head: HeadContext, options: RandomScorerOptions): Float32Array {
    const selectable = head.positions.length - head.protectedCount;
    const layer = head.layer ?? 0;
    const kvHead = head.head ?? 0;
    return Float32Array.from({ length: selectable }, (_, t) => randomDraw(options.seed, layer, kvHead, head.positions[t]!));
  },
};
