import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  Generator,
  type KvStore,
  PagedPool,
  ReferenceStore,
  cacheGeometry,
  compress,
  methodNames,
} from '../../src/index.js';
import { stories15m } from '../model/stories15m.js';
import { randomObservations, xorshift } from './random-observations.js';
import { expectSameCache } from './expect-same-cache.js';


describe.each<[string, CacheGeometry]>([
  ['MHA', { layers: 2, queryHeads: 4, kvHeads: 4, headDim: 16 }],
  ['GQA', { layers: 2, queryHeads: 8, kvHeads: 2, headDim: 16 }],
])('the paged WASM store and the reference store agree (%s)', (_, geometry) => {
  it.each(methodNames)('after %s compression and decode appends', async (method) => {
    const n = 45; // not a multiple of the block size
    const observations = randomObservations(geometry, n, 21);
    const pool = await PagedPool.create({ headDim: geometry.headDim, blockSize: 8 });
    const stores = [new ReferenceStore(geometry), pool.createStore(geometry)] as const;
    const positions = Int32Array.from({ length: n }, (_, t) => t);
    for (const store of stores) observations.forEach((o, layer) => store.append(layer, o.keys, o.values, positions));
    const plans = stores.map((store) => compress(store, observations, { method, budget: 14, options: { window: 5 } }));
    expect(plans[1]).toEqual(plans[0]);
    await expectSameCache(stores[0], stores[1], 3);
    const random = xorshift(9);
    const row = geometry.kvHeads * geometry.headDim;
    for (let step = 0; step < 5; step++) {
      const keys = Float32Array.from({ length: row }, () => random() - 0.5);
      const values = Float32Array.from({ length: row }, () => random() - 0.5);
      for (const store of stores) for (let layer = 0; layer < geometry.layers; layer++) store.append(layer, keys, values, Int32Array.of(n + step));
    }
    await expectSameCache(stores[0], stores[1], 4);
    pool.check();
    pool.dispose();
  });
});

describe('stories15M with a compressed cache', () => {
  it('generates the same greedy tokens on the paged and the reference store (Ada-SnapKV)', async () => {
    const model = stories15m();
    const pool = await PagedPool.create({ headDim: model.config.headDim });
    const run = (store: KvStore) =>
      new Generator(model, {
        store,
        afterPrefill: ({ store: s, observations }) => compress(s, observations, { method: 'ada-snapkv', budget: 16, options: { window: 8 } }),
      }).generate('Once upon a time, a little bunny named Tom lived in a forest full of tall trees.', { steps: 16 });
    const reference = await run(new ReferenceStore(cacheGeometry(model.config)));
    const paged = await run(pool.createStore(cacheGeometry(model.config)));
    expect(reference.tokens).toHaveLength(16);
    expect(paged.tokens).toEqual(reference.tokens);
    pool.dispose();
  });
});
