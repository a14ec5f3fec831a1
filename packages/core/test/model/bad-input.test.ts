import { describe, expect, it, vi } from 'vitest';
import {
  ContextOverflowError,
  Generator,
  ModelFormatError,
  OptionError,
  loadLlama2cModel,
  loadModel,
} from '../../src/index.js';
import { stories15m, stories15mFiles } from './stories15m.js';

describe('bad input to model loading and generation', () => {
  it('a truncated checkpoint is refused with the sizes it has and needs', () => {
    const { model } = stories15mFiles();
    expect(() => loadLlama2cModel(model.subarray(0, model.byteLength - 4))).toThrow(
      /60816024 bytes, but its header .* needs exactly 60816028: the file is truncated/,
    );
    expect(() => loadLlama2cModel(model.subarray(0, 20))).toThrow(/shorter than the 28-byte header/);
  });

  it('a foreign file is refused as not a LLaMA model', async () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(100).fill(7)]);
    await expect(loadModel(png)).rejects.toThrow(ModelFormatError);
    await expect(loadModel(stories15mFiles().tokenizer)).rejects.toThrow(/not a plausible model size/);
    await expect(loadModel(new Uint8Array(0))).rejects.toThrow(/empty/);
  });

  it('a tokenizer of another vocabulary is refused', () => {
    const { model, tokenizer } = stories15mFiles();
    expect(() => loadLlama2cModel(model, tokenizer.subarray(0, tokenizer.byteLength - 3))).toThrow(
      /tokenizer that belongs to this model/,
    );
  });

  it('an unshared classifier (negative vocab size) is read after the RoPE tables', async () => {
    const { model } = stories15mFiles();
    const unshared = new Uint8Array(model.byteLength + 32000 * 288 * 4);
    unshared.set(model);
    unshared.set(model.subarray(28, 28 + 32000 * 288 * 4), model.byteLength);
    new DataView(unshared.buffer).setInt32(20, -32000, true);
    const loaded = loadLlama2cModel(unshared);
    expect(loaded.weights.classifier === loaded.weights.tokenEmbedding).toBe(false);
    const tokens = stories15m().tokenizer!.encode('A cat');
    const expected = (await new Generator(stories15m()).prefill(tokens)).logits;
    expect(Array.from((await new Generator(loaded).prefill(tokens)).logits)).toEqual(Array.from(expected));
  });

  it('an empty prompt, a prompt beyond the context and steps beyond it are typed errors', async () => {
    const model = stories15m();
    const generator = new Generator(model);
    await expect(generator.generate('')).rejects.toThrow(OptionError);
    await expect(generator.generate([])).rejects.toThrow(OptionError);
    const long = 'the cat sat on the mat. '.repeat(60);
    await expect(generator.generate(long)).rejects.toThrow(ContextOverflowError);
    await expect(generator.generate('Once', { steps: 255 })).rejects.toThrow(/ask for at most 254 steps/);
    await expect(generator.generate('Once', { temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(generator.generate([1, 99999])).rejects.toThrow(/outside the vocabulary/);
    for (const seed of [-1, 2.5, 1e300]) await expect(generator.generate('Once', { seed })).rejects.toThrow(/seed must be a whole number from 0/);
  });

  it('a 64 KB prompt is refused from its length alone, before it is encoded', async () => {
    const model = stories15m();
    const encode = vi.spyOn(model.tokenizer!, 'encode');
    const huge = 'Once upon a time there was a little dog. '.repeat(1600);
    await expect(new Generator(model).generate(huge)).rejects.toThrow(/needs at least \d+ tokens, more than the limit of 256/);
    expect(encode).toHaveBeenCalledTimes(1);
    encode.mockRestore();
  });

  it('NaN weights are an INVALID_NUMBER error at the first logits, never a silent <unk>', async () => {
    const model = stories15m();
    const broken = { ...model, weights: { ...model.weights, finalNorm: new Float32Array(model.config.dim).fill(NaN) } };
    await expect(new Generator(broken).generate('Once upon a time', { steps: 4 })).rejects.toThrow(/non-finite logit/);
  });

  it('decoding past the last position of the context is a ContextOverflowError', async () => {
    const model = stories15m();
    const generator = new Generator(model);
    const tokens = Array.from({ length: model.config.contextLength }, (_, i) => (i === 0 ? 1 : 263));
    await generator.prefill(tokens);
    await expect(generator.step(263)).rejects.toThrow(ContextOverflowError);
    await expect(generator.prefill([1])).rejects.toThrow(/reset/);
  }, 20_000);
});
