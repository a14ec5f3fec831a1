import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  AdakvError,
  InvalidHandleError,
  InvalidNumberError,
  type KvStore,
  OptionError,
  PagedPool,
  PoolExhaustedError,
  ReferenceStore,
  ShapeError,
} from '../src/index.js';

function randomFloats(seed: number, count: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 2 ** 32) * 2 - 1;
  });
}

/** Appends the same random tokens to both stores, layer by layer. */
function appendBoth(stores: KvStore[], geometry: CacheGeometry, tokens: number, start: number, seed: number): void {
  const floats = tokens * geometry.kvHeads * geometry.headDim;
  const positions = Int32Array.from({ length: tokens }, (_, t) => start + t);
  for (let layer = 0; layer < geometry.layers; layer++) {
    const keys = randomFloats(seed + layer * 7, floats).map((k) => k * 2);
    const values = randomFloats(seed + layer * 7 + 3, floats);
    for (const store of stores) store.append(layer, keys, values, positions);
  }
}

async function expectSame(reference: KvStore, paged: KvStore, seed: number): Promise<void> {
  const { layers, kvHeads, queryHeads, headDim } = reference.geometry;
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < kvHeads; head++) {
      expect(paged.length(layer, head)).toBe(reference.length(layer, head));
      expect(paged.positions(layer, head)).toEqual(reference.positions(layer, head));
      expect(await paged.keys(layer, head)).toEqual(await reference.keys(layer, head));
      expect(await paged.values(layer, head)).toEqual(await reference.values(layer, head));
    }
    const queries = randomFloats(seed + layer, queryHeads * headDim).map((q) => q * 3);
    const expected = new Float32Array(queries.length);
    const actual = new Float32Array(queries.length);
    await reference.attend(layer, queries, expected);
    await paged.attend(layer, queries, actual);
    for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThan(1e-5);
  }
}

const geometries = fc.record({
  layers: fc.integer({ min: 1, max: 3 }),
  kvHeads: fc.integer({ min: 1, max: 4 }),
  group: fc.constantFrom(1, 2, 4),
  headDim: fc.constantFrom(4, 8, 16, 48),
});

/** A store from a pool of its own (disposing the pool frees it). */
async function pagedStore(geometry: CacheGeometry, options: { blockSize?: number } = {}) {
  const pool = await PagedPool.create({ headDim: geometry.headDim, ...options });
  return Object.assign(pool.createStore(geometry), { pool });
}

describe('PagedStore behaves like the ReferenceStore', () => {
  it('gives the same entries and attention outputs after random appends and random plans (with and without GQA)', async () => {
    await fc.assert(
      fc.asyncProperty(
        geometries,
        fc.integer({ min: 1, max: 17 }),
        fc.array(fc.record({ tokens: fc.integer({ min: 0, max: 40 }), keepOdds: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer({ min: 1, max: 1e6 }) }), { minLength: 1, maxLength: 4 }),
        async ({ layers, kvHeads, group, headDim }, blockSize, rounds) => {
          const geometry = { layers, kvHeads, queryHeads: kvHeads * group, headDim };
          const reference = new ReferenceStore(geometry);
          const paged = await pagedStore(geometry, { blockSize });
          let position = 0;
          for (const { tokens, keepOdds, seed } of rounds) {
            appendBoth([reference, paged], geometry, tokens, position, seed);
            position += tokens;
            for (let layer = 0; layer < layers; layer++) {
              const noise = randomFloats(seed + 99 + layer, kvHeads * position);
              const kept = Array.from({ length: kvHeads }, (_, h) =>
                Int32Array.from({ length: reference.length(layer, h) }, (_, i) => i).filter(
                  (i) => (noise[h * position + i]! + 1) / 2 < keepOdds,
                ),
              );
              reference.compact(layer, kept);
              paged.compact(layer, kept);
            }
            await expectSame(reference, paged, seed);
            // At most one partly filled block per head: bytes are exactly the blocks the lengths need.
            let blocks = 0;
            for (let layer = 0; layer < layers; layer++) {
              for (let h = 0; h < kvHeads; h++) blocks += Math.ceil(paged.length(layer, h) / blockSize);
            }
            expect(paged.bytes()).toBe(blocks * blockSize * headDim * 2 * 4);
          }
          paged.pool.check();
          paged.dispose();
          paged.pool.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('fails like the reference store on bad shapes and plans, and stays intact', async () => {
    const geometry = { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 2 };
    const paged = await pagedStore(geometry);
    const reference = new ReferenceStore(geometry);
    appendBoth([paged, reference], geometry, 3, 0, 5);
    const attempts: Array<(store: KvStore) => unknown> = [
      (store) => store.append(0, new Float32Array(3), new Float32Array(3), Int32Array.of(0)),
      (store) => store.append(1, new Float32Array(2), new Float32Array(2), Int32Array.of(0)),
      (store) => store.compact(0, [Int32Array.of(3)]),
      (store) => store.compact(0, [Int32Array.of(1, 1)]),
      (store) => store.compact(0, [Int32Array.of(2, 0)]),
      (store) => store.compact(0, [Int32Array.of(-1)]),
      (store) => store.compact(0, []),
      (store) => store.compact(1, [Int32Array.of(0)]),
      (store) => store.length(1, 0),
      (store) => store.positions(0, 1),
      (store) => store.length(0.5, 0),
      (store) => store.append(0, Float32Array.of(NaN, 0), new Float32Array(2), Int32Array.of(0)),
      (store) => store.append(0, new Float32Array(2), Float32Array.of(0, Infinity), Int32Array.of(0)),
    ];
    for (const attempt of attempts) {
      let expected: unknown;
      try {
        attempt(reference);
      } catch (error) {
        expected = error;
      }
      expect(expected).toBeInstanceOf(AdakvError);
      expect(['SHAPE_MISMATCH', 'INVALID_NUMBER']).toContain((expected as AdakvError).code);
      expect(() => attempt(paged)).toThrow((expected as Error).message);
    }
    await expect(paged.attend(0, new Float32Array(3), new Float32Array(4))).rejects.toBeInstanceOf(ShapeError);
    for (const store of [paged, reference]) {
      await expect(store.attend(0, Float32Array.of(0, NaN, 1, 1), new Float32Array(4))).rejects.toBeInstanceOf(InvalidNumberError);
    }
    await expectSame(reference, paged, 1);
    paged.pool.check();
    paged.dispose();
    expect(() => paged.length(0, 0)).toThrow(InvalidHandleError);
    paged.dispose();
    paged.pool.dispose();
  });

  it('rejects zero or absurd block sizes and mismatched head dims', async () => {
    const geometry = { layers: 1, queryHeads: 1, kvHeads: 1, headDim: 4 };
    for (const blockSize of [0, -1, 2.5, 5000]) {
      await expect(PagedPool.create({ headDim: 4, blockSize })).rejects.toBeInstanceOf(OptionError);
    }
    await expect(PagedPool.create({ headDim: 4, poolBlocks: 0 })).rejects.toBeInstanceOf(OptionError);
    const pool = await PagedPool.create({ headDim: 8 });
    expect(() => pool.createStore({ ...geometry, headDim: 8, kvHeads: 0 })).toThrow(ShapeError);
    expect(() => pool.createStore(geometry)).toThrow(OptionError);
    pool.dispose();
  });
});

describe('PagedPool: many sequences over one pool', () => {
  it('shares blocks, reports exhaustion as PoolExhaustedError and leaves every sequence intact', async () => {
    const geometry = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 8 };
    const pool = await PagedPool.create({ headDim: 8, blockSize: 4, poolBlocks: 16 });
    const first = pool.createStore(geometry);
    const second = pool.createStore(geometry);
    const reference = new ReferenceStore(geometry);
    appendBoth([first, reference], geometry, 8, 0, 11); // 2 layers x 2 heads x 2 blocks = 8 blocks
    appendBoth([second], geometry, 4, 0, 12); // 4 blocks
    expect(pool.stats().usedBlocks).toBe(12);
    const before = pool.stats();
    expect(() => appendBoth([second], geometry, 9, 4, 13)).toThrow(PoolExhaustedError);
    // Layer 0 of `second` needs 6 blocks and 4 are free: the append is refused whole.
    expect(pool.stats().usedBlocks).toBe(before.usedBlocks);
    expect(second.length(0, 1)).toBe(4);
    pool.check();
    await expectSame(reference, first, 3);
    expect(before.totalBlocks).toBe(16);
    second.dispose();
    expect(pool.stats().usedBlocks).toBe(8);
    const third = pool.createStore(geometry);
    appendBoth([third], geometry, 8, 0, 14);
    expect(pool.stats().freeBlocks).toBe(0);
    first.compact(0, [Int32Array.of(0), Int32Array.of()]);
    expect(pool.stats().freeBlocks).toBe(3);
    pool.check();
    pool.dispose();
    expect(() => third.length(0, 0)).toThrow(InvalidHandleError);
  });

  it('exposes a cu_seqlens-style flattened view', async () => {
    const geometry = { layers: 1, queryHeads: 3, kvHeads: 3, headDim: 4 };
    const store = await pagedStore(geometry, { blockSize: 2 });
    appendBoth([store], geometry, 5, 0, 3);
    store.compact(0, [Int32Array.of(0, 1, 2, 3, 4), Int32Array.of(1), Int32Array.of()]);
    const view = store.flatView(0);
    expect(Array.from(view.cuSeqlens)).toEqual([0, 5, 6, 6]);
    expect(Array.from(view.cuBlocks)).toEqual([0, 3, 4, 4]);
    expect(new Set(view.blockTable).size).toBe(4);
    expect(store.stats()).toMatchObject({ blocks: 4, rows: 6 });
    store.dispose();
    store.pool.dispose();
  });
});
