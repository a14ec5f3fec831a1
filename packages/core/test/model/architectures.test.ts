import type { TensorType } from '@adakv/allocator-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, type Model, WasmBackend, loadGgufModel } from '../../src/index.js';
import { type Shape, randomGguf, referenceLogits, relativeError } from './random-gguf.js';

// For each architecture x tensor type, a small random-weight GGUF file written here is loaded and run;
// its logits must match an f64 reference forward written from the architectures' descriptions, over
// the weights as the file stores them, dequantized (the formats themselves are held to llama.cpp's
// layouts in @adakv/allocator-wasm). The dims are multiples of 256 so every K-quant fits.

async function logitsOf(model: Model, tokens: number[], backend?: WasmBackend): Promise<Float32Array[]> {
  const generator = new Generator(model, backend ? { backend } : {});
  const prompt = tokens.slice(0, -3);
  const out = [Float32Array.from((await generator.prefill(prompt)).logits)];
  for (const token of tokens.slice(-3, -1)) out.push(Float32Array.from(await generator.step(token)));
  generator.store.dispose();
  return out;
}

const TYPES: readonly TensorType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_K', 'q6_K'];
const base: Shape = { architecture: 'llama', dim: 256, hidden: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 48, context: 64, ropeFreqs: false, tied: true };
const tokens = [1, 7, 30, 2, 45, 11, 19, 3, 8, 40, 22, 5];
const wasm = await WasmBackend.create({ threads: 1 });
afterAll(() => wasm.dispose());

describe.each([
  ['llama (tied classifier)', base],
  ['llama with Llama 3.1 rope_freqs and its own classifier', { ...base, ropeFreqs: true, tied: false }],
  ['qwen2 (Q/K/V biases, NeoX RoPE)', { ...base, architecture: 'qwen2' as const, kvHeads: 1 }],
])('%s', (_, shape) => {
  it.each(TYPES)('%s tensors: logits of prefill and decode within 1e-4 of an f64 forward over the stored weights', async (type) => {
    const { file, tensors } = randomGguf(shape, type, 17);
    const model = await loadGgufModel(file);
    expect(model.source.architecture).toBe(shape.architecture);
    expect(Object.values(model.source.tensorTypes)).toContain(type);
    const expected = referenceLogits(shape, tensors, tokens);
    const actual = await logitsOf(model, tokens);
    actual.forEach((row, i) => expect(relativeError(row, expected[tokens.length - 4 + i]!)).toBeLessThan(1e-4));
    // the WASM engine reads quantized weights in place and quantizes activations per block as llama.cpp
    // does; Qwen 2's biases and rotate-half RoPE run in its kernels too
    const onEngine = await logitsOf(model, tokens, wasm);
    const bound = type === 'f32' || type === 'f16' || type === 'bf16' ? 1e-4 : 2e-2;
    onEngine.forEach((row, i) => expect(relativeError(row, expected[tokens.length - 4 + i]!)).toBeLessThan(bound));
  });
});

describe('GGUF loading limits', () => {
  it('keeps quantized weights as stored for the engine: a q8_0 model holds about 1.07 bytes per parameter', async () => {
    const { file } = randomGguf(base, 'q8_0', 3);
    const model = await loadGgufModel(file);
    expect(model.storedWeights).toBeDefined();
    const generator = new Generator(model, { backend: wasm });
    await generator.generate([1, 2, 3], { steps: 2 });
    const { residentBytes, parameters } = generator.weights;
    expect(residentBytes / parameters).toBeLessThan(1.1);
    generator.store.dispose();
  });

  it('caps a long context at maxContext and honours a sliding window by capping at it, saying so', async () => {
    const { file } = randomGguf({ ...base, context: 64 }, 'f32', 4);
    const capped = await loadGgufModel(file, { maxContext: 32 });
    expect(capped.config.contextLength).toBe(32);
    expect(capped.source.notes?.join(' ')).toMatch(/limited to 32/);
    expect(capped.weights.ropeCos.length).toBe(32 * 32);
  });

  it('refuses other architectures by name', async () => {
    const { file } = randomGguf(base, 'f32', 5);
    const text = new TextDecoder('latin1').decode(file);
    const at = text.indexOf('llama');
    const renamed = file.slice();
    renamed.set(new TextEncoder().encode('gemma'), at); // general.architecture's value, same length
    await expect(loadGgufModel(renamed)).rejects.toThrow(/the architecture is "gemma"; this runner supports "llama" and "qwen2"/);
  });
});
