import type { ModelConfig } from './config.js';
import type { TextTokenizer } from './tokenizers/types.js';
import type { ModelWeights, StoredWeights } from './weights.js';

/** Where a model came from, for display and for checks that depend on the file format. */
export interface ModelSource {
  /** The file format it was read from. */
  readonly format: 'llama2c' | 'gguf';
  /** Storage type of each tensor as found in the file (GGUF) or `f32` for llama2.c checkpoints. */
  readonly tensorTypes: Readonly<Record<string, string>>;
  /** The file's architecture (`llama`, `qwen2`; `llama` for llama2.c checkpoints). */
  readonly architecture?: string;
  /** What loading changed or assumed, for people (e.g. a context capped below the file's). */
  readonly notes?: readonly string[];
}

/** A loaded LLaMA-family decoder: hyperparameters, f32 weights and, when the file carries one, its tokenizer. */
export interface Model {
  /** The model's hyperparameters. */
  readonly config: ModelConfig;
  /** Its weights, f32 (for a quantized GGUF file dequantized on first use). */
  readonly weights: ModelWeights;
  /**
   * The weights as the file stores them (quantized blocks and halves kept), when that differs from
   * f32: the WASM engine reads these in place, so a q8_0 model takes about 1.07 bytes per parameter.
   */
  readonly storedWeights?: StoredWeights;
  /** The tokenizer the file carries (GGUF, or llama2.c's `tokenizer.bin` when given), else undefined. */
  readonly tokenizer: TextTokenizer | undefined;
  /** The Jinja chat template the file carries (GGUF `tokenizer.chat_template`); see `formatChat`. */
  readonly chatTemplate?: string;
  /** Where it came from. */
  readonly source: ModelSource;
}
