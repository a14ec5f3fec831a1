import { describe, expect, it } from 'vitest';
import { Generator, MAX_SEED, OptionError, Rng, Sampler, argmax, checkSeed } from '../../src/index.js';
import { stories15m } from './stories15m.js';

describe('Rng (llama2.c xorshift64*)', () => {
  it("reproduces llama2.c's random_u32 and random_f32", () => {
    // golden values printed by llama2.c's own random_u32/random_f32 compiled with gcc
    const rng = new Rng(42);
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([1456360119, 3359763283, 3393612768, 4054632243]);
    const floats = new Rng(1337);
    expect([floats.nextFloat(), floats.nextFloat(), floats.nextFloat()].map(Math.fround)).toEqual(
      [0.230317235, 0.19051826, 0.310865164].map(Math.fround),
    );
  });

  it('takes every whole seed from 0 to MAX_SEED and refuses the rest up front', () => {
    const zero = new Rng(0);
    expect(new Set([zero.nextU32(), zero.nextU32(), zero.nextU32()]).size).toBe(3); // not stuck at 0
    expect(new Rng(MAX_SEED).nextU32()).toBeTypeOf('number');
    for (const bad of [-1, 1.5, NaN, Infinity, 1e300, MAX_SEED + 1]) {
      expect(() => new Rng(bad)).toThrow(OptionError);
      expect(() => checkSeed(bad)).toThrow(/seed must be a whole number from 0 to/);
    }
  });
});

describe('Sampler', () => {
  const logits = Float32Array.from([1, 3, 2.5, -1, 0]);

  it('is greedy at temperature 0 (first index on ties)', () => {
    const sampler = new Sampler(5, { temperature: 0, topP: 0.9 }, new Rng(1));
    expect(sampler.sample(logits)).toBe(1);
    expect(argmax(Float32Array.from([2, 5, 5]))).toBe(1);
  });

  it('samples the softmax distribution at temperature 1', () => {
    const sampler = new Sampler(5, { temperature: 1, topP: 1 }, new Rng(7));
    const counts = new Array(5).fill(0);
    const draws = 20000;
    for (let i = 0; i < draws; i++) counts[sampler.sample(logits)]++;
    const total = Array.from(logits).reduce((sum, l) => sum + Math.exp(l), 0);
    Array.from(logits).forEach((logit, i) => expect(Math.abs(counts[i] / draws - Math.exp(logit) / total)).toBeLessThan(0.015));
  });

  it('top-p keeps only the smallest set of tokens whose mass exceeds p', () => {
    // probabilities at temperature 1: [0.07, 0.55, 0.34, 0.01, 0.03] (rounded)
    const seenWith = (topP: number) => {
      const sampler = new Sampler(5, { temperature: 1, topP }, new Rng(3));
      const seen = new Set<number>();
      for (let i = 0; i < 2000; i++) seen.add(sampler.sample(logits));
      return [...seen].sort();
    };
    expect(seenWith(0.5)).toEqual([1]);
    expect(seenWith(0.6)).toEqual([1, 2]);
    expect(seenWith(0.95)).toEqual([0, 1, 2]);
  });

  it('rejects temperatures and top-p values outside their range', () => {
    expect(() => new Sampler(5, { temperature: -0.1, topP: 0.9 }, new Rng(1))).toThrow(/temperature/);
    expect(() => new Sampler(5, { temperature: 1, topP: 0 }, new Rng(1))).toThrow(/topP/);
    expect(() => new Sampler(5, { temperature: Infinity, topP: 1 }, new Rng(1))).toThrow(OptionError);
  });

  it('makes generation reproducible per seed', async () => {
    const model = stories15m();
    const run = (seed: number) => new Generator(model).generate('The dog', { steps: 12, temperature: 1, topP: 0.9, seed });
    const [a, b, c] = await Promise.all([run(5), run(5), run(6)]);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });
});
