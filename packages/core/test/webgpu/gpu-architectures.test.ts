import { requestGpu } from '@adakv/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, type Model, WebGpuBackend, loadGgufModel } from '../../src/index.js';
import { type Shape, randomGguf, referenceLogits, relativeError } from '../model/random-gguf.js';

// The GGUF architectures on the GPU: the logits of prefill (whole and in chunks) and decode held to
// the same f64 forward as on the CPU (test/model/architectures.test.ts).

const gpu = await requestGpu();
const backend = await WebGpuBackend.create({ gpu });
afterAll(() => {
  backend.dispose();
  gpu.device.destroy();
});

const base: Shape = { architecture: 'llama', dim: 256, hidden: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 48, context: 64, ropeFreqs: false, tied: true };
const tokens = [1, 7, 30, 2, 45, 11, 19, 3, 8, 40, 22, 5];

async function logitsOnGpu(model: Model, prefillChunk?: number): Promise<Float32Array[]> {
  const generator = new Generator(model, { backend, ...(prefillChunk ? { prefillChunk } : {}) });
  const out = [Float32Array.from((await generator.prefill(tokens.slice(0, -3))).logits)];
  for (const token of tokens.slice(-3, -1)) out.push(Float32Array.from(await generator.step(token)));
  generator.store.dispose();
  return out;
}

describe.each([
  ['qwen2 (Q/K/V biases, NeoX RoPE, a group of 4)', { ...base, architecture: 'qwen2' as const, kvHeads: 1 }],
  ['llama with Llama 3.1 rope_freqs and its own classifier', { ...base, ropeFreqs: true, tied: false }],
])('%s on WebGPU', (_, shape) => {
  it('gives the f64 forward\'s logits within 1e-4, prefilled whole or in chunks', async () => {
    const { file, tensors } = randomGguf(shape, 'f16', 23);
    const model = await loadGgufModel(file);
    const expected = referenceLogits(shape, tensors, tokens);
    for (const chunk of [undefined, 3]) {
      const actual = await logitsOnGpu(model, chunk);
      actual.forEach((row, i) => expect(relativeError(row, expected[tokens.length - 4 + i]!)).toBeLessThan(1e-4));
    }
  }, 120_000);
});
