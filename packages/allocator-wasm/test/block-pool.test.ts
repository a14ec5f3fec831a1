import { describe, expect, it } from 'vitest';
import { AllocatorError, BlockPool, blocksFor } from '../src/index.js';
import { randomFloats } from './helpers.js';

function rows(tokens: number, kvHeads: number, headDim: number, start = 0) {
  const keys = Float32Array.from({ length: tokens * kvHeads * headDim }, (_, i) => start * 1000 + i);
  const values = keys.map((k) => -k);
  const positions = Int32Array.from({ length: tokens }, (_, t) => start + t);
  return { keys, values, positions };
}

function expectCode(action: () => unknown, code: string): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(AllocatorError);
    expect((error as AllocatorError).code).toBe(code);
    return;
  }
  throw new Error(`expected an AllocatorError ${code}`);
}

describe('BlockPool', () => {
  it('counts blocks per head', () => {
    expect(blocksFor(0)).toBe(0);
    expect(blocksFor(17)).toBe(2);
    expect(blocksFor(5, 4)).toBe(2);
  });

  it('appends into blocks, a new block only at a block boundary', async () => {
    const pool = await BlockPool.create({ headDim: 3, blockSize: 4 });
    const sequence = pool.addSequence(2, 2);
    for (let t = 0; t < 9; t++) {
      const { keys, values, positions } = rows(1, 2, 3, t);
      pool.append(sequence, 1, keys, values, positions);
      expect(pool.sequenceStats(sequence).blocks).toBe(2 * blocksFor(t + 1, 4));
    }
    expect(pool.length(sequence, 1, 1)).toBe(9);
    expect(pool.length(sequence, 0, 1)).toBe(0);
    expect(Array.from(pool.positions(sequence, 1, 0))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // Token t, head 1 was written at [t*1000 + 3 .. t*1000 + 6).
    expect(Array.from(pool.keys(sequence, 1, 1).subarray(6, 9))).toEqual([2003, 2004, 2005]);
    expect(Array.from(pool.values(sequence, 1, 1).subarray(6, 9))).toEqual([-2003, -2004, -2005]);
    const stats = pool.stats();
    expect(stats.usedBlocks).toBe(6);
    expect(stats.storedRows).toBe(18);
    expect(stats.wastedRows).toBe(6 * 4 - 18);
    expect(stats.heldBytes).toBe(6 * 2 * 4 * 3 * 4);
    pool.check();
  });

  it('takes one position per head when heads keep different tokens, in every format', async () => {
    for (const format of ['f32', 'f16', 'int8', 'int4'] as const) {
      const pool = await BlockPool.create({ headDim: 4, blockSize: 4, format });
      const sequence = pool.addSequence(1, 2);
      const { keys, values } = rows(6, 2, 4);
      const perHead = Int32Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 10 + i : 100 + i)); // [tokens][heads]
      pool.append(sequence, 0, keys, values, perHead);
      expect(Array.from(pool.positions(sequence, 0, 0)), format).toEqual([10, 12, 14, 16, 18, 20]);
      expect(Array.from(pool.positions(sequence, 0, 1)), format).toEqual([101, 103, 105, 107, 109, 111]);
      expectCode(() => pool.append(sequence, 0, keys, values, new Int32Array(5)), 'INVALID_ARGUMENT');
      expect(pool.length(sequence, 0, 0)).toBe(6);
      pool.dispose();
    }
  });

  it('compacts in order and returns whole trailing blocks', async () => {
    const pool = await BlockPool.create({ headDim: 2, blockSize: 4 });
    const sequence = pool.addSequence(1, 2);
    const { keys, values, positions } = rows(10, 2, 2);
    pool.append(sequence, 0, keys, values, positions);
    expect(pool.stats().usedBlocks).toBe(6);
    const moved = pool.compact(sequence, 0, [Int32Array.of(0, 1, 5, 9), Int32Array.of()]);
    expect(moved).toBe(2);
    expect(Array.from(pool.positions(sequence, 0, 0))).toEqual([0, 1, 5, 9]);
    expect(Array.from(pool.keys(sequence, 0, 0))).toEqual([0, 1, 4, 5, 20, 21, 36, 37]);
    expect(pool.length(sequence, 0, 1)).toBe(0);
    expect(pool.stats().usedBlocks).toBe(1);
    const flat = pool.flatten(sequence, 0);
    expect(Array.from(flat.cuSeqlens)).toEqual([0, 4, 4]);
    expect(Array.from(flat.cuBlocks)).toEqual([0, 1, 1]);
    // Reading K in place through the block address gives the compacted rows.
    const inPlace = pool.allocator.f32(flat.blockAddresses[0]!, 8);
    expect(Array.from(inPlace)).toEqual([0, 1, 4, 5, 20, 21, 36, 37]);
    pool.check();
  });

  it('reports exhaustion as a typed error and leaves the pool intact', async () => {
    const pool = await BlockPool.create({ headDim: 2, blockSize: 2, initialBlocks: 2, maxBlocks: 4 });
    const sequence = pool.addSequence(1, 2);
    const first = rows(2, 2, 2);
    pool.append(sequence, 0, first.keys, first.values, first.positions);
    const before = pool.stats();
    const tooMuch = rows(3, 2, 2, 2);
    expectCode(() => pool.append(sequence, 0, tooMuch.keys, tooMuch.values, tooMuch.positions), 'POOL_EXHAUSTED');
    expect(pool.stats()).toEqual(before);
    expect(Array.from(pool.positions(sequence, 0, 1))).toEqual([0, 1]);
    pool.check();
    const fits = rows(1, 2, 2, 2);
    pool.append(sequence, 0, fits.keys, fits.values, fits.positions);
    expect(pool.stats().totalBlocks).toBe(4);
    expect(pool.stats().freeBlocks).toBe(0);
  });

  it('grows on demand without moving existing blocks', async () => {
    const pool = await BlockPool.create({ headDim: 64, blockSize: 16 });
    const sequence = pool.addSequence(1, 1);
    const { keys, values, positions } = rows(16, 1, 64);
    pool.append(sequence, 0, keys, values, positions);
    const address = pool.flatten(sequence, 0).blockAddresses[0];
    for (let t = 1; t < 200; t++) {
      const more = rows(16, 1, 64, t * 16);
      pool.append(sequence, 0, more.keys, more.values, more.positions);
    }
    expect(pool.flatten(sequence, 0).blockAddresses[0]).toBe(address);
    expect(pool.stats().usedBlocks).toBe(200);
    expect(pool.keys(sequence, 0, 0).subarray(0, 16 * 64)).toEqual(keys);
  });

  it('rejects bad input with typed errors and stays usable', async () => {
    const pool = await BlockPool.create({ headDim: 2, blockSize: 2 });
    const sequence = pool.addSequence(1, 1);
    const data = rows(3, 1, 2);
    pool.append(sequence, 0, data.keys, data.values, data.positions);
    const before = pool.stats();
    expectCode(() => pool.compact(sequence, 0, [Int32Array.of(0, 3)]), 'INVALID_PLAN');
    expectCode(() => pool.compact(sequence, 0, [Int32Array.of(1, 1)]), 'INVALID_PLAN');
    expectCode(() => pool.compact(sequence, 0, [Int32Array.of(2, 1)]), 'INVALID_PLAN');
    expectCode(() => pool.compact(sequence, 0, [Int32Array.of(-1)]), 'INVALID_PLAN');
    expectCode(() => pool.compact(sequence, 0, []), 'INVALID_PLAN');
    expectCode(() => pool.compact(sequence, 1, [Int32Array.of(0)]), 'OUT_OF_RANGE');
    expectCode(() => pool.append(sequence, 0, new Float32Array(3), new Float32Array(3), Int32Array.of(9)), 'INVALID_ARGUMENT');
    expectCode(() => pool.length(sequence, 0, 1), 'OUT_OF_RANGE');
    expectCode(() => pool.length(sequence + 1, 0, 0), 'INVALID_HANDLE');
    expectCode(() => pool.attend(sequence, 0, new Float32Array(3), new Float32Array(3)), 'INVALID_ARGUMENT');
    expect(pool.stats()).toEqual(before);
    expect(Array.from(pool.positions(sequence, 0, 0))).toEqual([0, 1, 2]);
    pool.check();

    pool.removeSequence(sequence);
    expectCode(() => pool.removeSequence(sequence), 'INVALID_HANDLE');
    expectCode(() => pool.positions(sequence, 0, 0), 'INVALID_HANDLE');
    expect(pool.stats().usedBlocks).toBe(0);
    const reused = pool.addSequence(1, 1);
    expect(reused).not.toBe(sequence); // a fresh generation, so the stale handle stays dead
    expectCode(() => pool.removeSequence(sequence), 'INVALID_HANDLE');
    expect(pool.length(reused, 0, 0)).toBe(0);
    pool.dispose();
    pool.dispose();
    expectCode(() => pool.stats(), 'INVALID_HANDLE');
  });

  it('rejects zero or absurd block sizes and shapes', async () => {
    const pool = await BlockPool.create({ headDim: 2 });
    for (const blockSize of [0, -4, 1.5, 4096, Number.NaN]) {
      expectCode(() => BlockPool.inAllocator(pool.allocator, { headDim: 2, blockSize }), 'INVALID_ARGUMENT');
    }
    expectCode(() => BlockPool.inAllocator(pool.allocator, { headDim: 0 }), 'INVALID_ARGUMENT');
    expectCode(() => BlockPool.inAllocator(pool.allocator, { headDim: 2, initialBlocks: 4, maxBlocks: 2 }), 'INVALID_ARGUMENT');
    expectCode(() => pool.addSequence(0, 1), 'INVALID_ARGUMENT');
    expect(pool.allocator.exports.adakv_pool_create(2, 0, 0, 1)).toBeLessThan(0);
    pool.check();
  });

  it('shares one allocator between pools without interference', async () => {
    const a = await BlockPool.create({ headDim: 4 });
    const b = BlockPool.inAllocator(a.allocator, { headDim: 4, blockSize: 8 });
    const sa = a.addSequence(1, 1);
    const sb = b.addSequence(1, 1);
    const keys = randomFloats(1, 4);
    a.append(sa, 0, keys, keys, Int32Array.of(7));
    expect(b.length(sb, 0, 0)).toBe(0);
    b.dispose();
    expect(Array.from(a.positions(sa, 0, 0))).toEqual([7]);
  });
});
