import { ModelFormatError } from '../errors.js';
import { loadLlama2cModel } from './llama2c.js';
import type { Model } from './model.js';

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"

/** How to load a model file. */
export interface LoadModelOptions {
  /** llama2.c's `tokenizer.bin` for a llama2.c checkpoint (GGUF files carry their own). */
  readonly tokenizer?: ArrayBuffer | Uint8Array;
  /** GGUF: most positions to prepare for (default 16384; see `loadGgufModel`). */
  readonly maxContext?: number;
}

/**
 * Loads a GGUF file of a LLaMA-family architecture (`llama`, `qwen2`; tensors f32, f16, bf16, q8_0,
 * q4_0, q4_K, q6_K, kept as stored for the WASM engine); its tokenizer and chat template come from the
 * file's metadata. The GGUF reader (and `@huggingface/gguf` with it) is imported on first use, so
 * bundlers split it out of the pages that never load a GGUF file.
 */
export async function loadGgufModel(data: ArrayBuffer | Uint8Array, options: { readonly maxContext?: number } = {}): Promise<Model> {
  const gguf = await import('./gguf.js');
  return gguf.loadGgufModel(data, options);
}

/** Whether `bytes` start with the GGUF magic. */
export function isGguf(bytes: Uint8Array): boolean {
  return GGUF_MAGIC.every((byte, i) => bytes[i] === byte);
}

/**
 * Loads a model from memory, recognising GGUF by its magic and otherwise reading a llama2.c
 * checkpoint; `tokenizer` is llama2.c's `tokenizer.bin` (GGUF files carry their own).
 */
export async function loadModel(data: ArrayBuffer | Uint8Array, options: LoadModelOptions = {}): Promise<Model> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength === 0) throw new ModelFormatError('The model file is empty.');
  if (isGguf(bytes)) {
    if (options.tokenizer) {
      throw new ModelFormatError('A tokenizer.bin was given for a GGUF model; GGUF files carry their own tokenizer.');
    }
    return loadGgufModel(bytes, options.maxContext === undefined ? {} : { maxContext: options.maxContext });
  }
  return loadLlama2cModel(bytes, options.tokenizer);
}
