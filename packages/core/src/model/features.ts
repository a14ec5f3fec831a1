import type { Model } from './model.js';

/** What of a model goes beyond plain LLaMA (a backend's kernels must support it to run the model). */
export interface ModelFeatures {
  /** Q/K/V projection biases (Qwen 2). */
  readonly biases: boolean;
  /** Rotate-half (NeoX) RoPE (Qwen 2). */
  readonly neoxRope: boolean;
}

/** The model's {@link ModelFeatures}, read without dequantizing anything. */
export function modelFeatures(model: Model): ModelFeatures {
  const layer = (model.storedWeights ?? model.weights).layers[0];
  return { biases: layer?.bq !== undefined, neoxRope: model.config.ropeStyle === 'neox' };
}
