import { describe, expect, it } from 'vitest';
import { ReferenceStore, ShapeError } from '../src/index.js';

const geometry = { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 2 };

describe('ReferenceStore', () => {
  it('appends, compacts and keeps original positions', async () => {
    const store = new ReferenceStore(geometry);
    store.append(0, Float32Array.of(1, 0, 0, 1, 1, 1), Float32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(0, 1, 2));
    store.compact(0, [Int32Array.of(0, 2)]);
    expect(Array.from(store.positions(0, 0))).toEqual([0, 2]);
    expect(Array.from(await store.values(0, 0))).toEqual([1, 2, 5, 6]);
    expect(store.bytes()).toBe(2 * 2 * 2 * 4);
  });
  it('attends with a stable softmax shared by the query heads of a group', async () => {
    const store = new ReferenceStore(geometry);
    store.append(0, Float32Array.of(1000, 0, 0, 1000), Float32Array.of(1, 0, 0, 1), Int32Array.of(0, 1));
    const out = new Float32Array(4);
    await store.attend(0, Float32Array.of(1, 0, 0, 1), out);
    expect(Array.from(out)).toEqual([1, 0, 0, 1]);
  });
  it('rejects bad shapes and plans', () => {
    const store = new ReferenceStore(geometry);
    expect(() => store.append(0, new Float32Array(3), new Float32Array(3), Int32Array.of(0))).toThrow(ShapeError);
    store.append(0, new Float32Array(2), new Float32Array(2), Int32Array.of(0));
    expect(() => store.compact(0, [Int32Array.of(1)])).toThrow(/outside/);
    expect(() => store.length(1, 0)).toThrow(/layer 1/);
  });
  it('refuses an absurd geometry at once instead of allocating it', () => {
    expect(() => new ReferenceStore({ layers: 2 ** 31, queryHeads: 1, kvHeads: 1, headDim: 8 })).toThrow(/exceed the 1048576 heads/);
    expect(() => new ReferenceStore({ layers: 1, queryHeads: 1, kvHeads: 1, headDim: 1 << 20 })).toThrow(ShapeError);
  });
});
