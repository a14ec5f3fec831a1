import { loadAllocator, selectAdaptive } from '@adakv/allocator-wasm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveAllocation, getMethod, observationHeadContext, resolveMethodOptions } from '../../src/index.js';
import { topKIndices } from '../../src/allocation/top-k.js';
import { randomObservations } from './random-observations.js';

const allocator = await loadAllocator();

/** The reference allocation of one layer: caps by Ada-KV, then each head's own top cap_h. */
function reference(rows: Float32Array[], selectable: number, alpha: number) {
  const caps = adaptiveAllocation(rows, selectable, alpha);
  return { caps, kept: rows.map((row, h) => topKIndices(row, caps[h]!)) };
}

describe('the WASM adaptive selection picks exactly what the core reference picks', () => {
  it('on random scores with ties, extreme values and signed zeros', () => {
    const score = fc.oneof(
      fc.float({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(0, -0, 1, 0.5, 3.4028234663852886e38, -3.4028234663852886e38),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 0, max: 24 }),
        fc.constantFrom(0, 0.2, 0.5, 1),
        fc.infiniteStream(score),
        (heads, length, selectable, alpha, stream) => {
          const flat = Float32Array.from({ length: heads * length }, () => stream.next().value as number);
          const rows = Array.from({ length: heads }, (_, h) => flat.subarray(h * length, (h + 1) * length));
          const wasm = selectAdaptive(allocator, flat, heads, Math.min(selectable, length), alpha);
          const expected = reference(rows, Math.min(selectable, length), alpha);
          expect(wasm.caps).toEqual(expected.caps);
          expect(wasm.kept).toEqual(expected.kept);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('on SnapKV scores of a GQA layer', () => {
    const geometry = { layers: 1, queryHeads: 8, kvHeads: 4, headDim: 16 };
    const n = 120;
    const window = 8;
    const [observation] = randomObservations(geometry, n, 77);
    const method = getMethod('ada-snapkv');
    const options = resolveMethodOptions(method, { window });
    const rows = Array.from({ length: geometry.kvHeads }, (_, h) =>
      method.scorer!.score(observationHeadContext(geometry, observation!, h, window), options),
    );
    const flat = new Float32Array(rows.length * (n - window));
    rows.forEach((row, h) => flat.set(row, h * (n - window)));
    for (const selectable of [1, 16, 40, 111]) {
      const wasm = selectAdaptive(allocator, flat, geometry.kvHeads, selectable, 0.2);
      const expected = reference(rows, selectable, 0.2);
      expect(wasm.caps).toEqual(expected.caps);
      expect(wasm.kept).toEqual(expected.kept);
    }
  });
});
