import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BudgetError,
  EvictingStore,
  Generator,
  OptionError,
  PagedPool,
  ReferenceStore,
  cacheGeometry,
  loadLlama2cModel,
} from '../../src/index.js';
import { randomCheckpoint } from '../model/random-model.js';

const model = loadLlama2cModel(
  randomCheckpoint({ dim: 48, hiddenDim: 64, layers: 2, heads: 6, kvHeads: 2, vocab: 40, contextLength: 96 }, 7),
);
const geometry = cacheGeometry(model.config);
const prompt = Array.from({ length: 20 }, (_, i) => (i * 7) % 40);

describe('decode-time eviction', () => {
  it.each(['ada-snapkv', 'snapkv', 'h2o', 'streamingllm'])(
    '%s keeps every layer within its target and never evicts the recent window',
    async (method) => {
      const window = 6;
      const store = new EvictingStore(new ReferenceStore(geometry), { method, maxTokensPerHead: 16, every: 4, options: { window } });
      const generator = new Generator(model, { store, afterPrefill: ({ observations }) => store.observe(observations) });
      await generator.generate(prompt, {
        steps: 40,
        onToken: () => {
          const position = generator.position - 1; // the token just forwarded
          for (let layer = 0; layer < geometry.layers; layer++) {
            let total = 0;
            for (let head = 0; head < geometry.kvHeads; head++) {
              const positions = Array.from(store.positions(layer, head));
              total += positions.length;
              for (let p = position - window + 1; p <= position; p++) expect(positions).toContain(p);
            }
            expect(total).toBeLessThanOrEqual(geometry.kvHeads * 16);
          }
        },
      });
      expect(store.evictions).toBeGreaterThan(0);
      expect(store.evictedTokens).toBeGreaterThan(0);
    },
  );

  it('follows a limit that grows with the sequence (a compression ratio) and shrinks on demand', async () => {
    const window = 4;
    const store = new EvictingStore(new ReferenceStore(geometry), {
      method: 'ada-snapkv',
      maxTokensPerHead: (seen) => Math.ceil(seen / 3),
      every: 4,
      options: { window },
    });
    const generator = new Generator(model, { store, afterPrefill: ({ observations }) => store.observe(observations) });
    const total = (layer: number) => Array.from({ length: geometry.kvHeads }, (_, h) => store.length(layer, h)).reduce((a, b) => a + b);
    await generator.generate(prompt, {
      steps: 60,
      onToken: () => {
        const limit = Math.max(window + 4, Math.ceil(generator.position / 3));
        expect(store.limit(0)).toBe(limit);
        for (let layer = 0; layer < geometry.layers; layer++) expect(total(layer)).toBeLessThanOrEqual(geometry.kvHeads * limit);
      },
    });
    await store.compressTo(6);
    for (let layer = 0; layer < geometry.layers; layer++) {
      expect(total(layer)).toBeLessThanOrEqual(geometry.kvHeads * 6 + geometry.kvHeads); // within rounding of the safeguard
      for (let h = 0; h < geometry.kvHeads; h++) expect(store.positions(layer, h).slice(-window)).toEqual(Int32Array.from({ length: window }, (_, i) => generator.position - window + i));
    }
  });

  it('changes nothing while the cache stays under its target', async () => {
    const plain = await new Generator(model).generate(prompt, { steps: 30 });
    const store = new EvictingStore(new ReferenceStore(geometry), { method: 'ada-snapkv', maxTokensPerHead: 96, options: { window: 8 } });
    const evicting = await new Generator(model, { store }).generate(prompt, { steps: 30 });
    expect(evicting.tokens).toEqual(plain.tokens);
    expect(store.evictions).toBe(0);
  });

  it('returns whole blocks to a paged pool, so its usage stays bounded', async () => {
    const pool = await PagedPool.create({ headDim: geometry.headDim, blockSize: 4 });
    const store = new EvictingStore(pool.createStore(geometry), { method: 'ada-snapkv', maxTokensPerHead: 16, every: 4, options: { window: 4 } });
    let most = 0;
    await new Generator(model, { store }).generate(prompt, {
      steps: 60,
      onToken: () => {
        most = Math.max(most, pool.stats().usedBlocks);
      },
    });
    // 16 entries per head on average, plus at most one partly filled block per head.
    const heads = geometry.layers * geometry.kvHeads;
    expect(most).toBeLessThanOrEqual(Math.ceil((16 * heads) / 4) + heads + heads);
    pool.check();
    store.dispose();
  });

  it('refuses targets that cannot hold the window and methods that keep everything', () => {
    const inner = new ReferenceStore(geometry);
    expect(() => new EvictingStore(inner, { method: 'snapkv', maxTokensPerHead: 20, every: 8, options: { window: 16 } })).toThrow(BudgetError);
    expect(() => new EvictingStore(inner, { method: 'snapkv', maxTokensPerHead: 40, every: 0 })).toThrow(OptionError);
    expect(() => new EvictingStore(inner, { method: 'full', maxTokensPerHead: 64 })).toThrow(OptionError);
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 60 }), fc.integer({ min: 1, max: 20 }), (max, every) => {
        const make = () => new EvictingStore(inner, { method: 'h2o', maxTokensPerHead: max, every, options: { window: 8 } });
        if (max - every >= 8) expect(make).not.toThrow();
        else expect(make).toThrow(BudgetError);
      }),
    );
  });
});
