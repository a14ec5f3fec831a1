import type { KvStore } from '@adakv/core';
import { describe, expect, it } from 'vitest';
import { type CacheSample, cacheFrame, sampleCache } from '../src/cache-frames.js';

const sample = (step: number, evictedSoFar: number, positions: number[][][]): CacheSample => ({
  step,
  evictedSoFar,
  positions: positions.map((heads) => heads.map((p) => Int32Array.from(p))),
});

describe('cache frames', () => {
  it('copies what each head holds, so later steps cannot change a sample waiting to be drawn', () => {
    const held = [[Int32Array.of(0, 1, 5), Int32Array.of(0)], [Int32Array.of(2, 3), Int32Array.of()]];
    const store = { geometry: { layers: 2, kvHeads: 2 }, positions: (layer: number, head: number) => held[layer]![head]! } as unknown as KvStore;
    const taken = sampleCache(store, 3, 7);
    held[0]![0]!.fill(9);
    expect(taken.step).toBe(3);
    expect(taken.evictedSoFar).toBe(7);
    expect(taken.positions.map((heads) => heads.map((p) => [...p]))).toEqual([[[0, 1, 5], [0]], [[2, 3], []]]);
  });

  it('counts what each head holds, with nothing evicted in the first frame', () => {
    const frame = cacheFrame(null, sample(0, 12, [[[0, 1, 2], [0]], [[0, 1], [1, 2, 3, 4, 5]]]));
    expect(frame.held).toEqual([[3, 1], [2, 5]]);
    expect(frame.evictedSince).toEqual([[0, 0], [0, 0]]);
    expect(frame.heldTotal).toBe(11);
    expect(frame.evictedSinceTotal).toBe(0);
    expect(frame.evictedSoFar).toBe(12);
    expect(frame.layerMeans).toEqual([2, 3.5]);
  });

  it('counts as evicted the positions a head held at the previous frame and holds no more, new tokens aside', () => {
    const before = sample(4, 0, [[[0, 1, 2, 3], [0, 1]], [[0, 1, 2], [0, 1, 2]]]);
    // head (0,0) lost 1 and 2 and gained 4 and 5; head (0,1) only grew; layer 1 lost one entry per head
    const after = sample(6, 4, [[[0, 3, 4, 5], [0, 1, 4, 5]], [[0, 2, 5], [1, 2, 4, 5]]]);
    const frame = cacheFrame(before, after);
    expect(frame.step).toBe(6);
    expect(frame.evictedSince).toEqual([[2, 0], [1, 1]]);
    expect(frame.evictedSinceTotal).toBe(4);
    expect(frame.held).toEqual([[4, 4], [3, 4]]);
    expect(frame.layerMeans).toEqual([4, 3.5]);
  });
});
