import { Dispatcher, adaptiveCounts, requestGpu, selectTopK } from '@adakv/gpu';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ReferenceStore,
  Transformer,
  adaptiveAllocation,
  cacheGeometry,
  getMethod,
  observationHeadContext,
  resolveMethodOptions,
  roundHalfEven,
  snapkvScorer,
} from '../../src/index.js';
import { topKIndices } from '../../src/allocation/top-k.js';
import { randomObservations } from '../compression/random-observations.js';
import { stories15m } from '../model/stories15m.js';

const gpu = await requestGpu();
const dispatcher = new Dispatcher(gpu);
afterAll(() => gpu.device.destroy());

/** Ada-KV's kept prefix entries with the counting and the selection on the GPU, the safeguard in f64. */
async function adaptiveSelectOnGpu(rows: Float32Array[], selectable: number, alpha: number): Promise<Int32Array[]> {
  const flat = new Float32Array(rows.length * rows[0]!.length);
  rows.forEach((row, h) => flat.set(row, h * row.length));
  const counts = await adaptiveCounts(dispatcher, flat, rows.length, rows.length * selectable);
  const floor = Math.floor(selectable * alpha);
  const caps = Array.from(counts, (c, h) => Math.min(rows[h]!.length, Math.max(0, roundHalfEven(c * (1 - alpha) + floor))));
  return selectTopK(dispatcher, rows, caps);
}

function coreSelect(rows: Float32Array[], selectable: number, alpha: number): Int32Array[] {
  const caps = adaptiveAllocation(rows, selectable, alpha);
  return rows.map((row, h) => topKIndices(row, caps[h]!));
}

describe('per-head top-k selection: the WGSL kernel against the core reference', () => {
  it('keeps exactly the indices topKIndices keeps, ties and extremes included', async () => {
    const score = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 0.5, 3.4028234663852886e38, -3.4028234663852886e38, 1e-30));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.array(score, { maxLength: 400 }), fc.nat({ max: 450 })), { minLength: 1, maxLength: 6 }), async (heads) => {
        const rows = heads.map(([row]) => Float32Array.from(row));
        const kept = await selectTopK(dispatcher, rows, heads.map(([, cap]) => cap));
        kept.forEach((indices, h) => expect(Array.from(indices)).toEqual(Array.from(topKIndices(rows[h]!, heads[h]![1]))));
      }),
      { numRuns: 40 },
    );
  });

  it('Ada-KV counts + safeguard + selection on the GPU keep what the core allocation keeps (random layers, every alpha)', async () => {
    const geometry = { layers: 1, queryHeads: 8, kvHeads: 4, headDim: 16 };
    const [observation] = randomObservations(geometry, 300, 11);
    const options = resolveMethodOptions(getMethod('ada-snapkv'), { window: 16 });
    const rows = Array.from({ length: geometry.kvHeads }, (_, h) => snapkvScorer.score(observationHeadContext(geometry, observation!, h, 16), options));
    for (const [selectable, alpha] of [[8, 0.2], [40, 0.2], [40, 0], [40, 1], [200, 0.5]] as const) {
      const gpuKept = await adaptiveSelectOnGpu(rows, selectable, alpha);
      expect(gpuKept.map((k) => Array.from(k))).toEqual(coreSelect(rows, selectable, alpha).map((k) => Array.from(k)));
    }
  });

  it('on SnapKV scores of real stories15M layers', async () => {
    const model = stories15m();
    const geometry = cacheGeometry(model.config);
    const tokens = model.tokenizer!.encode('Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog. One day they found a ball.');
    const { observations } = await new Transformer(model).prefill(tokens, new ReferenceStore(geometry));
    const options = resolveMethodOptions(getMethod('ada-snapkv'), { window: 8 });
    for (const layer of [0, 2, 5]) {
      const rows = Array.from({ length: geometry.kvHeads }, (_, h) => snapkvScorer.score(observationHeadContext(geometry, observations[layer]!, h, 8), options));
      const gpuKept = await adaptiveSelectOnGpu(rows, 6, 0.2);
      expect(gpuKept.map((k) => Array.from(k))).toEqual(coreSelect(rows, 6, 0.2).map((k) => Array.from(k)));
    }
  });
});
