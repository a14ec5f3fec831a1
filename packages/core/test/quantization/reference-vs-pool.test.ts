import { describe, expect, it } from 'vitest';
import { type CacheGeometry, type KvStore, WasmBackend } from '../../src/index.js';
import { heldBytes, quantizeHeadRows } from '../../src/quantization/index.js';
import type { KvFormat } from '@adakv/allocator-wasm';
import { xorshift } from '../compression/random-observations.js';

const FORMATS: KvFormat[] = ['f32', 'f16', 'int8', 'int4'];

/** Rows `[n][kvHeads][d]` whose channels 3, 17 and 40 are 30x larger, as real models' keys are. */
function outlierRows(n: number, kvHeads: number, d: number, seed: number): Float32Array {
  const random = xorshift(seed);
  return Float32Array.from({ length: n * kvHeads * d }, (_, i) => {
    const c = i % d;
    return (random() * 2 - 1) * ([3, 17, 40].includes(c) ? 30 : 1);
  });
}

function headOf(rows: Float32Array, n: number, kvHeads: number, d: number, head: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let t = 0; t < n; t++) out.set(rows.subarray((t * kvHeads + head) * d, (t * kvHeads + head + 1) * d), t * d);
  return out;
}

async function expectStoreMatches(store: KvStore, format: KvFormat, keys: Float32Array, values: Float32Array, n: number, blockSize: number) {
  const { kvHeads, headDim: d } = store.geometry;
  for (let h = 0; h < kvHeads; h++) {
    const expected = quantizeHeadRows(format, headOf(keys, n, kvHeads, d, h), headOf(values, n, kvHeads, d, h), d, blockSize);
    expect(await store.keys(0, h)).toEqual(expected.keys);
    expect(await store.values(0, h)).toEqual(expected.values);
  }
}

describe('quantizeHeadRows is what the wasm pool gives back', async () => {
  // headDim 48: int4 values have a full group of 32 channels and a short one of 16
  const geometry: CacheGeometry = { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 48 };
  const blockSize = 8;
  const backend = await WasmBackend.create({ blockSize });

  it.each(FORMATS)('%s: bit for bit, appended in pieces, partly filled last block included', async (format) => {
    for (const [n, seed] of [[20, 1], [24, 2], [5, 3]] as const) {
      const keys = outlierRows(n, 2, 48, seed);
      const values = outlierRows(n, 2, 48, seed + 100);
      const store = backend.createStore(geometry, { kvFormat: format });
      try {
        // pieces that cross block boundaries: the residual is encoded when its block fills
        for (const [from, to] of [[0, 3], [3, 11], [11, n]] as const) {
          if (from >= Math.min(to, n)) continue;
          const end = Math.min(to, n);
          store.append(0, keys.slice(from * 96, end * 96), values.slice(from * 96, end * 96), Int32Array.from({ length: end - from }, (_, t) => from + t));
        }
        await expectStoreMatches(store, format, keys, values, n, blockSize);
        if (n % blockSize === 0) expect(store.bytes()).toBe(heldBytes(format, [n, n], 48, blockSize));
      } finally {
        store.dispose();
      }
    }
  });

  it('f16: saturation, infinities and subnormals as the pool stores them', async () => {
    const special = [70000, -1e9, 3.4e38, 1e-6, -3e-8, 65519, 65520, 0.1, -0, 2 ** -24 * 1.5];
    const keys = Float32Array.from({ length: 4 * 96 }, (_, i) => special[i % special.length]!);
    const values = keys.map((x) => -x);
    const store = backend.createStore(geometry, { kvFormat: 'f16' });
    try {
      store.append(0, keys, values, Int32Array.from([0, 1, 2, 3]));
      await expectStoreMatches(store, 'f16', keys, values, 4, blockSize);
    } finally {
      store.dispose();
    }
  });

  it.each(['int8', 'int4'] as const)('%s: binary16 scales, rounded up, saturated and subnormal, as the pool stores them', async (format) => {
    // channel groups of tiny values (scales below binary16's normal range), of huge ones (scales past
    // 65504: clamped) and of ordinary ones; 8 rows fill one block, so every scale is encoded
    const magnitudes = [1e-7, 3e-6, 1e7, 2e9, 1, 0.37, 65504 * 7.5, 0];
    const random = xorshift(23);
    const keys = Float32Array.from({ length: 8 * 96 }, (_, i) => (random() * 2 - 1) * magnitudes[Math.floor((i % 48) / 6)]!);
    const values = Float32Array.from({ length: 8 * 96 }, (_, i) => (random() * 2 - 1) * magnitudes[Math.floor(i / 96) % magnitudes.length]!);
    const store = backend.createStore(geometry, { kvFormat: format });
    try {
      store.append(0, keys, values, Int32Array.from({ length: 8 }, (_, t) => t));
      await expectStoreMatches(store, format, keys, values, 8, blockSize);
      // unsaturated elements stay within half their (rounded-up) scale
      const levels = format === 'int8' ? 127 : 7;
      const back = await store.keys(0, 0);
      for (let c = 0; c < 48; c++) {
        let peak = 0;
        for (let r = 0; r < 8; r++) peak = Math.max(peak, Math.abs(keys[r * 96 + c]!));
        if (peak / levels > 65504) continue;
        const s = peak / levels;
        for (let r = 0; r < 8; r++) expect(Math.abs(back[r * 48 + c]! - keys[r * 96 + c]!)).toBeLessThanOrEqual(Math.max(s * (1 + 2 ** -10), s + 2 ** -24) / 2 + peak * 1e-6);
      }
    } finally {
      store.dispose();
    }
  });

  it.each(['int8', 'int4'] as const)('%s: a compaction dropping only rows of the f32 residual leaves the rest in f32', async (format) => {
    const n = 20; // blocks of rows 0-7 and 8-15 encoded; 16-19 wait in f32
    const keys = outlierRows(n, 2, 48, 7);
    const values = outlierRows(n, 2, 48, 8);
    const store = backend.createStore(geometry, { kvFormat: format });
    try {
      store.append(0, keys, values, Int32Array.from({ length: n }, (_, t) => t));
      const kept = Int32Array.from({ length: 18 }, (_, t) => t);
      store.compact(0, [kept, kept]);
      await expectStoreMatches(store, format, keys.slice(0, 18 * 96), values.slice(0, 18 * 96), 18, blockSize);
    } finally {
      store.dispose();
    }
  });

  it.each(['int8', 'int4'] as const)("%s: lastBlock 'encoded' is a full block with zero rows compacted to its rows", async (format) => {
    // what storeKeptRows does: the kept rows, zero rows up to a whole block, then a compaction to the kept rows
    // re-encodes that block from its decoded rows, whose scales come back within an ulp
    const n = 19;
    const keys = outlierRows(24, 2, 48, 9).fill(0, n * 96);
    const values = outlierRows(24, 2, 48, 10).fill(0, n * 96);
    const store = backend.createStore(geometry, { kvFormat: format });
    try {
      store.append(0, keys, values, Int32Array.from({ length: 24 }, (_, t) => t));
      const kept = Int32Array.from({ length: n }, (_, t) => t);
      store.compact(0, [kept, kept]);
      for (let h = 0; h < 2; h++) {
        const rows = (all: Float32Array) => headOf(all, 24, 2, 48, h).subarray(0, n * 48);
        const expected = quantizeHeadRows(format, rows(keys), rows(values), 48, blockSize, { lastBlock: 'encoded' });
        const exactOnly = quantizeHeadRows(format, rows(keys), rows(values), 48, blockSize);
        const [gotKeys, gotValues] = [await store.keys(0, h), await store.values(0, h)];
        for (const [got, want, exact] of [[gotKeys, expected.keys, exactOnly.keys], [gotValues, expected.values, exactOnly.values]] as const) {
          expect(got.subarray(0, 16 * 48)).toEqual(want.subarray(0, 16 * 48)); // untouched blocks: bit for bit
          let worst = 0;
          for (let i = 16 * 48; i < n * 48; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
          expect(worst).toBeLessThan(1e-6);
          expect(got.subarray(16 * 48)).not.toEqual(exact.subarray(16 * 48)); // really encoded, not f32
        }
      }
      expect(store.bytes()).toBe(heldBytes(format, [n, n], 48, blockSize));
    } finally {
      store.dispose();
    }
  });
});
