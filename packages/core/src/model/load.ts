import { ModelFormatError } from '../errors.js';
import { loadLlama2cModel } from './llama2c.js';
import type { Model } from './model.js';

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"

/**
 * Loads a GGUF file of the LLaMA architecture (f32, f16, bf16 and q8_0 tensors; weights are
 * dequantized to f32); its tokenizer comes from the file's metadata. The GGUF reader (and
 * `@huggingface/gguf` with it) is imported on first use, so bundlers split it out of the pages that
 * never load a GGUF file.
 */
export async function loadGgufModel(data: ArrayBuffer | Uint8Array): Promise<Model> {
  const gguf = await import('./gguf.js');
  return gguf.loadGgufModel(data);
}

/** Whether `bytes` start with the GGUF magic. */
export function isGguf(bytes: Uint8Array): boolean {
  return GGUF_MAGIC.every((byte, i) => bytes[i] === byte);
}

/**
 * Loads a model from memory, recognising GGUF by its magic and otherwise reading a llama2.c
 * checkpoint; `tokenizer` is llama2.c's `tokenizer.bin` (GGUF files carry their own).
 */
export async function loadModel(data: ArrayBuffer | Uint8Array, options: { tokenizer?: ArrayBuffer | Uint8Array } = {}): Promise<Model> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength === 0) throw new ModelFormatError('The model file is empty.');
  if (isGguf(bytes)) {
    if (options.tokenizer) {
      throw new ModelFormatError('A tokenizer.bin was given for a GGUF model; GGUF files carry their own tokenizer.');
    }
    return loadGgufModel(bytes);
  }
  return loadLlama2cModel(bytes, options.tokenizer);
}
