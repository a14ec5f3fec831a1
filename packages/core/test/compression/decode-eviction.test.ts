import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BudgetError,
  DecodeEviction,
  type DecodeEvictionOptions,
  Generator,
  OptionError,
  ReferenceBackend,
  WasmBackend,
  cacheGeometry,
  loadLlama2cModel,
} from '../../src/index.js';
import { randomCheckpoint } from '../model/random-model.js';

const model = loadLlama2cModel(
  randomCheckpoint({ dim: 48, hiddenDim: 64, layers: 2, heads: 6, kvHeads: 2, vocab: 40, contextLength: 96 }, 7),
);
const geometry = cacheGeometry(model.config);
const prompt = Array.from({ length: 20 }, (_, i) => (i * 7) % 40);
const reference = new ReferenceBackend();

/** A generator on the reference backend that evicts while decoding, and its store. */
function evicting(eviction: DecodeEvictionOptions) {
  const generator = new Generator(model, { eviction });
  return { generator, store: generator.store, policy: generator.eviction! };
}

describe('decode-time eviction (a policy the runner calls after each step)', () => {
  it.each(['ada-snapkv', 'snapkv', 'h2o', 'streamingllm'])(
    '%s keeps every layer within its target and never evicts the recent window',
    async (method) => {
      const window = 6;
      const { generator, store, policy } = evicting({ method, maxTokensPerHead: 16, every: 4, options: { window } });
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
      expect(policy.evictions).toBeGreaterThan(0);
      expect(policy.evictedTokens).toBeGreaterThan(0);
    },
  );

  it('follows a limit that grows with the sequence (a compression ratio) and shrinks on demand', async () => {
    const window = 4;
    const { generator, store, policy } = evicting({ method: 'ada-snapkv', maxTokensPerHead: (seen) => Math.ceil(seen / 3), every: 4, options: { window } });
    const total = (layer: number) => Array.from({ length: geometry.kvHeads }, (_, h) => store.length(layer, h)).reduce((a, b) => a + b);
    await generator.generate(prompt, {
      steps: 60,
      onToken: () => {
        const limit = Math.max(window + 4, Math.ceil(generator.position / 3));
        expect(policy.limit()).toBe(limit);
        for (let layer = 0; layer < geometry.layers; layer++) expect(total(layer)).toBeLessThanOrEqual(geometry.kvHeads * limit);
      },
    });
    await policy.compressTo(6);
    for (let layer = 0; layer < geometry.layers; layer++) {
      expect(total(layer)).toBeLessThanOrEqual(geometry.kvHeads * 6 + geometry.kvHeads); // within rounding of the safeguard
      for (let h = 0; h < geometry.kvHeads; h++) expect(store.positions(layer, h).slice(-window)).toEqual(Int32Array.from({ length: window }, (_, i) => generator.position - window + i));
    }
  });

  it('changes nothing while the cache stays under its target', async () => {
    const plain = await new Generator(model).generate(prompt, { steps: 30 });
    const { generator, policy } = evicting({ method: 'ada-snapkv', maxTokensPerHead: 96, options: { window: 8 } });
    expect((await generator.generate(prompt, { steps: 30 })).tokens).toEqual(plain.tokens);
    expect(policy.evictions).toBe(0);
  });

  it('returns whole blocks to a paged pool, so its usage stays bounded', async () => {
    const backend = await WasmBackend.create();
    const pool = backend.createPool(geometry, { blockSize: 4 });
    const store = pool.createStore();
    let most = 0;
    const generator = new Generator(model, { backend, store, eviction: { method: 'ada-snapkv', maxTokensPerHead: 16, every: 4, options: { window: 4 } } });
    await generator.generate(prompt, {
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
    expect(pool.stats().usedBlocks).toBe(0);
    backend.dispose();
  });

  it('on the wasm backend evicts exactly what the reference backend evicts', async () => {
    const backend = await WasmBackend.create();
    const eviction: DecodeEvictionOptions = { method: 'ada-snapkv', maxTokensPerHead: 14, every: 3, options: { window: 5 } };
    const runs = [new Generator(model, { eviction }), new Generator(model, { backend, eviction })];
    const results = [];
    for (const generator of runs) results.push(await generator.generate(prompt, { steps: 50 }));
    expect(results[1]!.tokens).toEqual(results[0]!.tokens);
    for (let layer = 0; layer < geometry.layers; layer++) {
      for (let h = 0; h < geometry.kvHeads; h++) expect(runs[1]!.store.positions(layer, h)).toEqual(runs[0]!.store.positions(layer, h));
    }
    expect(runs[1]!.eviction!.evictedTokens).toBe(runs[0]!.eviction!.evictedTokens);
    backend.dispose();
  });

  it('refuses targets that cannot hold the window and methods that keep everything', () => {
    const inner = reference.createStore(geometry);
    const make = (options: DecodeEvictionOptions) => () => new DecodeEviction(reference, inner, options);
    expect(make({ method: 'snapkv', maxTokensPerHead: 20, every: 8, options: { window: 16 } })).toThrow(BudgetError);
    expect(make({ method: 'snapkv', maxTokensPerHead: 40, every: 0 })).toThrow(OptionError);
    expect(make({ method: 'full', maxTokensPerHead: 64 })).toThrow(OptionError);
    expect(() => new DecodeEviction(new ReferenceBackend(), { ...inner, recordQueries() {} } as never, { method: 'snapkv', maxTokensPerHead: 64 })).toThrow(/not made by the reference backend/);
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 60 }), fc.integer({ min: 1, max: 20 }), (max, every) => {
        const policy = make({ method: 'h2o', maxTokensPerHead: max, every, options: { window: 8 } });
        if (max - every >= 8) expect(policy).not.toThrow();
        else expect(policy).toThrow(BudgetError);
      }),
    );
  });
});
