import type { ModelConfig } from './config.js';
import type { Tokenizer } from './tokenizer.js';
import type { ModelWeights } from './weights.js';

/** Where a model came from, for display and for checks that depend on the file format. */
export interface ModelSource {
  readonly format: 'llama2c' | 'gguf';
  /** Storage type of each tensor as found in the file (GGUF) or `f32` for llama2.c checkpoints. */
  readonly tensorTypes: Readonly<Record<string, string>>;
}

/** A loaded LLaMA-family decoder: hyperparameters, f32 weights and, when the file carries one, its tokenizer. */
export interface Model {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly tokenizer: Tokenizer | undefined;
  readonly source: ModelSource;
}
