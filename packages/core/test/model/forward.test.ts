import { describe, expect, it } from 'vitest';
import { Generator, ReferenceStore, WasmBackend, argmax, cacheGeometry, loadLlama2cModel } from '../../src/index.js';
import { randomCheckpoint } from './random-model.js';
import { stories15m } from './stories15m.js';

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Logits of every position, once by one batched prefill per prefix and once by decoding token by token. */
async function batchedAndStepwise(generator: () => Generator, tokens: number[]): Promise<[Float32Array[], Float32Array[]]> {
  const batched: Float32Array[] = [];
  for (let n = 1; n <= tokens.length; n++) batched.push((await generator().prefill(tokens.slice(0, n))).logits);
  const session = generator();
  const stepwise = [(await session.prefill(tokens.slice(0, 1))).logits];
  for (const token of tokens.slice(1)) stepwise.push(Float32Array.from(await session.step(token)));
  return [batched, stepwise];
}

describe('forward pass: batched prefill and decode through the store agree', () => {
  it('grouped-query attention (6 query heads over 2 KV heads, odd sizes)', async () => {
    const model = loadLlama2cModel(
      randomCheckpoint({ dim: 48, hiddenDim: 70, layers: 3, heads: 6, kvHeads: 2, vocab: 37, contextLength: 16 }, 11),
    );
    expect(cacheGeometry(model.config)).toEqual({ layers: 3, queryHeads: 6, kvHeads: 2, headDim: 8 });
    const tokens = [1, 5, 9, 30, 2, 17, 17, 4, 36];
    const [batched, stepwise] = await batchedAndStepwise(() => new Generator(model), tokens);
    batched.forEach((logits, i) => expect(maxAbsDifference(logits, stepwise[i]!)).toBeLessThan(1e-4));
    // GQA must not be plain MHA in disguise: a model whose KV heads are repeated per query head differs
    const store = new ReferenceStore(cacheGeometry(model.config));
    await new Generator(model, { store }).prefill(tokens);
    expect(store.length(2, 1)).toBe(tokens.length);
    expect(Array.from(store.positions(0, 0))).toEqual(tokens.map((_, i) => i));
  });

  it('stories15M: prefill of a prompt equals decoding it token by token, with the reference and the paged store', async () => {
    const model = stories15m();
    const tokens = model.tokenizer!.encode('The little bird sang a song.');
    const [batched, stepwise] = await batchedAndStepwise(() => new Generator(model), tokens);
    batched.forEach((logits, i) => {
      expect(maxAbsDifference(logits, stepwise[i]!)).toBeLessThan(1e-3);
      expect(argmax(logits)).toBe(argmax(stepwise[i]!));
    });
    const wasm = await WasmBackend.create();
    const paged = new Generator(model, { backend: wasm });
    const reference = new Generator(model);
    const a = await paged.generate(tokens, { steps: 20 });
    const b = await reference.generate(tokens, { steps: 20 });
    expect(a.tokens).toEqual(b.tokens);
    wasm.dispose();
  });

  it('hands every layer its post-RoPE queries, keys and values to plan compression from', async () => {
    const model = stories15m();
    const store = new ReferenceStore(cacheGeometry(model.config));
    const seen: number[] = [];
    const generator = new Generator(model, {
      store,
      afterPrefill: ({ observations, store: s }) => {
        seen.push(observations.length, s.length(0, 0));
        return 'planned';
      },
    });
    const tokens = model.tokenizer!.encode('A cat');
    const result = await generator.prefill(tokens);
    expect(seen).toEqual([6, tokens.length]);
    expect(result.afterPrefill).toBe('planned');
    const { queries, keys, values } = result.observations[3]!;
    expect(queries.length).toBe(tokens.length * 6 * 48);
    expect(keys.length).toBe(tokens.length * 6 * 48);
    expect(Array.from(await store.keys(3, 2))).toEqual(
      tokens.flatMap((_, t) => Array.from(keys.subarray((t * 6 + 2) * 48, (t * 6 + 3) * 48))),
    );
    expect(Array.from(await store.values(3, 2))).toEqual(
      tokens.flatMap((_, t) => Array.from(values.subarray((t * 6 + 2) * 48, (t * 6 + 3) * 48))),
    );
    generator.reset();
    expect(generator.position).toBe(0);
    expect(store.length(0, 0)).toBe(0);
  });
});
