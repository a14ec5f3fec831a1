import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  PagedPool,
  ReferenceStore,
  compress,
  methodNames,
} from '../../src/index.js';
import { randomObservations, randomOutputProjection, xorshift } from './random-observations.js';
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
    const plans = stores.map((store) => compress(store, observations, { method, budget: 14, options: { window: 5 }, outputProjection: randomOutputProjection(geometry, 24, 3) }));
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
