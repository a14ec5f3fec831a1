import { GGUFValueType } from '@huggingface/gguf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, type Model, ModelFormatError, argmax, halfToFloat, loadGgufModel, loadModel } from '../../src/index.js';
import { floatToHalf, llamaMetadata, modelToGguf, writeGguf } from './gguf-writer.js';
import { stories15m } from './stories15m.js';

const PROMPT = 'One day, a little dog named Max';

/**
 * Measured on stories15M, logits after the prompt and 4 decoded tokens (they span about -15..19):
 * f16 weights move them by at most 0.011, q8_0 by at most 0.32. The bounds leave headroom.
 */
const TOLERANCE = { f16: 0.05, q8_0: 0.6 };

async function logitsOf(model: Model, steps = 4): Promise<Float32Array[]> {
  const generator = new Generator(model);
  const tokens = stories15m().tokenizer!.encode(PROMPT);
  const out = [(await generator.prefill(tokens)).logits];
  for (let i = 0; i < steps; i++) out.push(Float32Array.from(await generator.step(argmax(out[out.length - 1]!))));
  return out;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('GGUF models written from stories15M', () => {
  it('f32: same config, tokenizer and exactly the same logits as the llama2.c checkpoint', async () => {
    const reference = stories15m();
    const model = await loadModel(modelToGguf(reference, 'f32'));
    expect(model.source.format).toBe('gguf');
    expect(model.config).toEqual(reference.config);
    expect(model.weights.classifier).toBe(model.weights.tokenEmbedding);
    expect(model.tokenizer!.encode('Héllo, wörld! 😀')).toEqual(reference.tokenizer!.encode('Héllo, wörld! 😀'));
    const expected = await logitsOf(reference);
    const actual = await logitsOf(model);
    actual.forEach((logits, i) => expect(Array.from(logits)).toEqual(Array.from(expected[i]!)));
  });

  for (const type of ['f16', 'q8_0'] as const) {
    it(`${type}: logits within ${TOLERANCE[type]} of f32 and the same greedy tokens`, async () => {
      const reference = stories15m();
      const model = await loadGgufModel(modelToGguf(reference, type));
      expect(model.source.tensorTypes['blk.0.attn_q.weight']).toBe(type);
      expect(model.source.tensorTypes['blk.0.attn_norm.weight']).toBe('f32');
      const expected = await logitsOf(reference);
      const actual = await logitsOf(model);
      actual.forEach((logits, i) => {
        expect(maxAbsDifference(logits, expected[i]!)).toBeLessThan(TOLERANCE[type]);
        expect(argmax(logits)).toBe(argmax(expected[i]!));
      });
    });
  }

  it('f16 decoding is exact: every finite half round-trips through floatToHalf', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfToFloat(bits);
      if (Number.isNaN(value)) continue;
      expect(floatToHalf(value) === bits || (value === 0 && floatToHalf(value) === (bits & 0x8000))).toBe(true);
    }
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -60000, max: 60000 }), (x) => {
        const nearest = halfToFloat(floatToHalf(x));
        const step = Math.max(2 ** -24, 2 ** (Math.floor(Math.log2(Math.abs(x) || 1)) - 10));
        return Math.abs(nearest - x) <= step / 2;
      }),
    );
  });

  it('refuses truncated, foreign and unsupported GGUF files with ModelFormatError', async () => {
    const reference = stories15m();
    const file = modelToGguf(reference, 'q8_0');
    await expect(loadGgufModel(file.subarray(0, file.byteLength - 1000))).rejects.toThrow(/truncated/);
    await expect(loadGgufModel(file.subarray(0, 100))).rejects.toBeInstanceOf(ModelFormatError);
    const tiny = { name: 'token_embd.weight', shape: [32, 2], values: new Float32Array(64), type: 'f32' as const };
    const small = { ...reference, tokenizer: undefined } as unknown as Model;
    const foreign = writeGguf({ ...llamaMetadata({ ...reference }, 1, 'gpt2') }, [tiny]);
    await expect(loadGgufModel(foreign)).rejects.toThrow(/architecture is "gpt2"/);
    const missing = writeGguf(llamaMetadata(reference, 1), [tiny]);
    await expect(loadGgufModel(missing)).rejects.toThrow(ModelFormatError);
    expect(small.tokenizer).toBeUndefined();
  });

  it('refuses at load a vocabulary whose BOS or EOS id is outside it', async () => {
    const reference = stories15m();
    for (const key of ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id']) {
      const file = modelToGguf(reference, 'q8_0', { [key]: { value: 32000, type: GGUFValueType.UINT32 } });
      await expect(loadGgufModel(file)).rejects.toThrow(/token id 32000 is outside the vocabulary \[0, 32000\)/);
    }
  });
});
