import { expect } from 'vitest';
import type { KvStore } from '../../src/index.js';
import { xorshift } from './random-observations.js';

/** Holds a store to the reference: same positions, keys and values per head, attention within 1e-5. */
export async function expectSameCache(reference: KvStore, other: KvStore, seed: number): Promise<void> {
  const { layers, kvHeads, queryHeads, headDim } = reference.geometry;
  const random = xorshift(seed);
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < kvHeads; head++) {
      expect(other.positions(layer, head)).toEqual(reference.positions(layer, head));
      expect(await other.keys(layer, head)).toEqual(await reference.keys(layer, head));
      expect(await other.values(layer, head)).toEqual(await reference.values(layer, head));
    }
    const queries = Float32Array.from({ length: queryHeads * headDim }, () => random() * 4 - 2);
    const expected = new Float32Array(queries.length);
    const actual = new Float32Array(queries.length);
    await reference.attend(layer, queries, expected);
    await other.attend(layer, queries, actual);
    expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v))));
  }
}
