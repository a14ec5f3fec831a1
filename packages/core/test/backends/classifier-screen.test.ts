import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator, InvalidNumberError, ReferenceBackend, Scheduler, WasmBackend, cacheGeometry } from '../../src/index.js';
import { stories15m } from '../model/stories15m.js';

// The wasm backend's greedy decode reads stories15M's f32 classifier through its q8_0 screen
// (allocator-wasm's classifier_screen.h): the tokens must be exactly those of the full logits, for one
// sequence and for the scheduler's batches, and a non-finite logit is still an INVALID_NUMBER error.

const model = stories15m();
const { vocabSize, dim } = model.config;
const screenBytes = (vocabSize * dim * 34) / 32 + vocabSize * 12;
let screened: WasmBackend;
let unscreened: WasmBackend;
beforeAll(async () => {
  screened = await WasmBackend.create();
  unscreened = await WasmBackend.create({ classifierScreen: false });
});
afterAll(() => {
  screened?.dispose();
  unscreened?.dispose();
});

describe('greedy decode through the classifier screen (wasm backend)', () => {
  it('gives the reference backend\'s 64 greedy tokens, and reports the screen beside the weights', async () => {
    const prompt = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
    const expected = await new Generator(model, { backend: new ReferenceBackend() }).generate(prompt, { steps: 64, stopAtEndOfText: false });
    const withScreen = new Generator(model, { backend: screened });
    const without = new Generator(model, { backend: unscreened });
    expect((await withScreen.generate(prompt, { steps: 64, stopAtEndOfText: false })).tokens).toEqual(expected.tokens);
    expect((await without.generate(prompt, { steps: 64, stopAtEndOfText: false })).tokens).toEqual(expected.tokens);
    expect(withScreen.weights.screenBytes).toBe(screenBytes);
    expect(without.weights.screenBytes).toBe(0);
    expect(withScreen.weights.residentBytes).toBe(without.weights.residentBytes);
  });

  it('gives every sequence of a scheduler batch the tokens it gets without the screen', async () => {
    const prompts = ['Tom had a red ball.', 'The sun was hot and the cat slept.', 'Once there was a big tree.', 'Sam and Mia went to the park.', 'A little bird sang.'];
    const run = async (backend: WasmBackend) => {
      // batches of up to 3: the screen serves them (from 5 rows on the engine reads the f32 classifier)
      const scheduler = new Scheduler(model, backend, { poolBlocks: 2048, maxBatch: 3 });
      const results = await Promise.all(prompts.map((prompt) => scheduler.submit({ prompt, maxTokens: 24, stopAtEndOfText: false, method: 'full' }).result));
      await scheduler.close();
      scheduler.pool.dispose();
      return results.map((r) => r.tokens);
    };
    expect(await run(screened)).toEqual(await run(unscreened));
  });

  it('a non-finite logit in a greedy step is an INVALID_NUMBER error naming the position', async () => {
    const broken = { ...model, weights: { ...model.weights, finalNorm: new Float32Array(dim).fill(Number.NaN) } };
    const forward = screened.forwardPass(broken);
    expect(forward.weights.screenBytes).toBe(screenBytes);
    const store = screened.createStore(cacheGeometry(model.config));
    await forward.prefill([1, 400, 500], store);
    const error = await forward.decodeGreedy([600], [3], [store]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidNumberError);
    expect((error as Error).message).toMatch(/non-finite logit at position 4/);
    store.dispose();
  });
});
