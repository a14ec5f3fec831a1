import { describe, expect, it } from 'vitest';
import { type CacheGeometry, Generator, type KvStore, type WasmBackend, type WebGpuBackend } from '../../src/index.js';
import { stories15m } from '../model/stories15m.js';
import { pairedBackends } from './paired-backends.js';
import { xorshift } from '../compression/random-observations.js';

// int8 / int4 K/V on the WebGPU store against the wasm store: the GPU pool encodes blocks with the
// WASM pool's arithmetic (scales, rounding, the f32 residual of a partly filled last block, what
// compaction re-encodes), so both give back the same dequantized rows and attend alike.

const { webgpu, wasm } = await pairedBackends();

const closeRelative = (actual: Float32Array, expected: Float32Array, tolerance: number) => {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(actual[i]! - v) / Math.max(1, Math.abs(v)))));
  expect(worst).toBeLessThanOrEqual(tolerance);
};

async function expectSameStores(a: KvStore, b: KvStore, geometry: CacheGeometry, random: () => number): Promise<void> {
  for (let layer = 0; layer < geometry.layers; layer++) {
    for (let head = 0; head < geometry.kvHeads; head++) {
      expect(Array.from(b.positions(layer, head))).toEqual(Array.from(a.positions(layer, head)));
      closeRelative(await b.keys(layer, head), await a.keys(layer, head), 1e-6);
      closeRelative(await b.values(layer, head), await a.values(layer, head), 1e-6);
    }
    const queries = Float32Array.from({ length: geometry.queryHeads * geometry.headDim }, () => random() * 2 - 1);
    const [expected, actual] = [new Float32Array(queries.length), new Float32Array(queries.length)];
    await a.attend(layer, queries, expected);
    await b.attend(layer, queries, actual);
    closeRelative(actual, expected, 1e-5);
  }
}

describe.each(['int8', 'int4'] as const)('%s K/V: the WebGPU store and the wasm store', (kvFormat) => {
  it('hold the same dequantized rows and attend alike through appends, compactions of arbitrary rows and decode appends (GQA)', async () => {
    const geometry: CacheGeometry = { layers: 2, queryHeads: 6, kvHeads: 2, headDim: 40 };
    const random = xorshift(kvFormat === 'int8' ? 5 : 6);
    const stores = [wasm.createStore(geometry, { kvFormat }), webgpu.createStore(geometry, { kvFormat })] as const;
    const kv = geometry.kvHeads * geometry.headDim;
    const append = (tokens: number, start: number) => {
      for (let layer = 0; layer < geometry.layers; layer++) {
        // channels of different ranges, as real keys have
        const keys = Float32Array.from({ length: tokens * kv }, (_, i) => (random() - 0.5) * (1 + (i % geometry.headDim) / 4));
        const values = Float32Array.from({ length: tokens * kv }, () => random() - 0.5);
        for (const store of stores) store.append(layer, keys, values, Int32Array.from({ length: tokens }, (_, t) => start + t));
      }
    };
    append(45, 0); // 2 full blocks of 16 and 13 rows in f32 per head
    await expectSameStores(stores[0], stores[1], geometry, random);
    let next = 45;
    for (let round = 0; round < 3; round++) {
      for (let layer = 0; layer < geometry.layers; layer++) {
        const kept = Array.from({ length: geometry.kvHeads }, (_, head) => {
          const all = Int32Array.from({ length: stores[0].length(layer, head) }, (_, t) => t);
          if ((round + head) % 3 === 2) return all.subarray(0, all.length - 7); // a prefix: nothing moves
          return all.filter(() => random() < 0.7);
        });
        for (const store of stores) store.compact(layer, kept);
      }
      await expectSameStores(stores[0], stores[1], geometry, random);
      for (let step = 0; step < 6; step++) append(1, next++); // decode appends: into re-encoded partial blocks
      append(20, next);
      next += 20;
      await expectSameStores(stores[0], stores[1], geometry, random);
    }
    // the GPU store's bytes are its real buffers: the wasm pool's block bytes plus a 4-byte marker per
    // block (scales and levels alike), and the same f32 residual rows
    let blocks = 0;
    for (let layer = 0; layer < geometry.layers; layer++) for (let head = 0; head < geometry.kvHeads; head++) blocks += Math.ceil(stores[0].length(layer, head) / 16);
    expect(stores[1].bytes()).toBe(stores[0].bytes() + 4 * blocks);
    const f32 = webgpu.createStore(geometry);
    const rows = stores[0].length(0, 0);
    f32.append(0, new Float32Array(rows * kv), new Float32Array(rows * kv), Int32Array.from({ length: rows }, (_, t) => t));
    expect(stores[1].bytes()).toBeLessThan(f32.bytes() * geometry.layers);
    f32.dispose();
    for (const store of stores) store.dispose();
  });
});

describe('stories15M with int8 K/V on the GPU', () => {
  it('greedy-decodes the tokens the wasm backend decodes from its int8 store', async () => {
    const model = stories15m();
    const prompt = 'Lily went to the park with her mom. She saw a big tree and a little bird.';
    const run = async (backend: WebGpuBackend | WasmBackend) => {
      const generator = new Generator(model, { backend, kvFormat: 'int8' });
      try {
        return (await generator.generate(prompt, { steps: 8, stopAtEndOfText: false })).tokens;
      } finally {
        generator.store.dispose();
      }
    };
    const onWasm = await run(wasm);
    const onGpu = await run(webgpu);
    expect(onGpu).toEqual(onWasm);
  });
});
