import { describe, expect, it } from 'vitest';
import { Generator, type MethodName, compress, methodNames } from '../../src/index.js';
import { stories15m } from './stories15m.js';

describe('a budget covering the whole prompt', () => {
  const model = stories15m();
  const prompt = model.tokenizer!.encode('Once upon a time, a little fox found a shiny stone by the river and took it home.');

  async function logitsWith(method: MethodName | null): Promise<Float32Array[]> {
    const generator = new Generator(model, {
      afterPrefill: ({ store, observations }) =>
        method && compress(store, observations, { method, budget: prompt.length, options: { window: 8 } }),
    });
    const { logits } = await generator.prefill(prompt);
    const out = [Float32Array.from(logits)];
    let token = prompt[prompt.length - 1]!;
    for (let i = 0; i < 4; i++) {
      token = out[out.length - 1]!.indexOf(Math.max(...out[out.length - 1]!));
      out.push(Float32Array.from(await generator.step(token)));
    }
    return out;
  }

  it.each(methodNames)('gives the full-cache logits exactly with %s', async (method) => {
    expect(await logitsWith(method)).toEqual(await logitsWith(null));
  });
});
