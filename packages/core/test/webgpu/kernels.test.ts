import { Dispatcher, adaptiveCounts, requestGpu, windowScores } from '@adakv/gpu';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  type LayerObservation,
  ReferenceStore,
  Transformer,
  cacheGeometry,
  observationHeadContext,
  resolveMethodOptions,
  snapkvScorer,
  getMethod,
} from '../../src/index.js';
import { countTopAcrossHeads } from '../../src/allocation/top-k.js';
import { randomObservations } from '../compression/random-observations.js';
import { stories15m } from '../model/stories15m.js';

const gpu = await requestGpu();
const dispatcher = new Dispatcher(gpu);
afterAll(() => gpu.device.destroy());

function closeTo(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((value, i) => expect(Math.abs(actual[i]! - value)).toBeLessThanOrEqual(1e-4 * Math.max(Math.abs(value), 1e-3)));
}

async function expectScoresMatch(geometry: CacheGeometry, observation: LayerObservation, window: number, options: object = {}): Promise<void> {
  const resolved = resolveMethodOptions(getMethod('snapkv'), { window, ...options });
  const gpuScores = await windowScores(dispatcher, observation.keys, observation.queries, { ...geometry, ...resolved });
  const prefix = observation.keys.length / (geometry.kvHeads * geometry.headDim) - window;
  for (let h = 0; h < geometry.kvHeads; h++) {
    closeTo(gpuScores.subarray(h * prefix, (h + 1) * prefix), snapkvScorer.score(observationHeadContext(geometry, observation, h, window), resolved));
  }
}

describe('SnapKV window scores: the WGSL kernels against the core scorer', () => {
  it('on random data, MHA and GQA, every pooling and group reduce', async () => {
    for (const geometry of [{ layers: 1, queryHeads: 4, kvHeads: 4, headDim: 16 }, { layers: 1, queryHeads: 8, kvHeads: 2, headDim: 32 }]) {
      const [observation] = randomObservations(geometry, 70, 5);
      for (const options of [{}, { pooling: 'avg' }, { groupReduce: 'max' }, { kernelSize: 1 }]) await expectScoresMatch(geometry, observation!, 8, options);
    }
  });

  it('on edge cases: a one-token prefix, a window of one, very large and very small scores', async () => {
    const geometry = { layers: 1, queryHeads: 2, kvHeads: 1, headDim: 8 };
    const [observation] = randomObservations(geometry, 12, 9);
    await expectScoresMatch(geometry, observation!, 11);
    await expectScoresMatch(geometry, observation!, 1);
    for (const scale of [40, 1e-4]) {
      const scaled = { ...observation!, keys: observation!.keys.map((k) => k * scale) };
      await expectScoresMatch(geometry, scaled, 4);
    }
  });

  it('on real stories15M activations', async () => {
    const model = stories15m();
    const geometry = cacheGeometry(model.config);
    const tokens = model.tokenizer!.encode('Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog.');
    const { observations } = await new Transformer(model).prefill(tokens, new ReferenceStore(geometry));
    for (const layer of [0, 3, 5]) await expectScoresMatch(geometry, observations[layer]!, 8);
  });
});

describe('Ada-KV counts: the radix-select kernel against the core reference', () => {
  it('picks exactly the same per-head counts, ties and extremes included', async () => {
    const score = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1, 0.5, 3.4028234663852886e38, -3.4028234663852886e38, 1e-30));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 250 }), fc.infiniteStream(score), async (heads, length, k, stream) => {
        const flat = Float32Array.from({ length: heads * length }, () => stream.next().value as number);
        const rows = Array.from({ length: heads }, (_, h) => flat.subarray(h * length, (h + 1) * length));
        expect(Array.from(await adaptiveCounts(dispatcher, flat, heads, k))).toEqual(Array.from(countTopAcrossHeads(rows, k)));
      }),
      { numRuns: 60 },
    );
  });

  it('on SnapKV scores of real-shaped layers', async () => {
    const geometry = { layers: 1, queryHeads: 8, kvHeads: 4, headDim: 16 };
    const [observation] = randomObservations(geometry, 300, 3);
    const options = resolveMethodOptions(getMethod('snapkv'), { window: 16 });
    const rows = Array.from({ length: 4 }, (_, h) => snapkvScorer.score(observationHeadContext(geometry, observation!, h, 16), options));
    const flat = new Float32Array(rows.length * rows[0]!.length);
    rows.forEach((row, h) => flat.set(row, h * row.length));
    for (const k of [4, 64, 500, 1135]) expect(Array.from(await adaptiveCounts(dispatcher, flat, 4, k))).toEqual(Array.from(countTopAcrossHeads(rows, k)));
  });
});
