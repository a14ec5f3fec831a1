import { ModelFormatError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import type { RopeStyle } from './rope.js';

/** Hyperparameters of a LLaMA-family decoder, read from the model file. */
export interface ModelConfig {
  /** Residual stream width. */
  readonly dim: number;
  /** Width of the SwiGLU feed-forward layer. */
  readonly hiddenDim: number;
  /** Transformer layers. */
  readonly layers: number;
  /** Attention (query) heads per layer. */
  readonly queryHeads: number;
  /** Key/value heads per layer (fewer than query heads with grouped-query attention). */
  readonly kvHeads: number;
  /** Width of one head. */
  readonly headDim: number;
  /** Tokens in the vocabulary. */
  readonly vocabSize: number;
  /** Longest sequence the model supports (positions 0 .. contextLength - 1). */
  readonly contextLength: number;
  /** RoPE's base frequency (10000 for llama2.c models). */
  readonly ropeTheta: number;
  /** The epsilon of RMS normalization. */
  readonly normEps: number;
  /** Which dimensions RoPE rotates together (default `adjacent`; `neox` for GGUF `qwen2`). */
  readonly ropeStyle?: RopeStyle;
}

/** The KV-cache shape a model needs. */
export function cacheGeometry(config: ModelConfig): CacheGeometry {
  return { layers: config.layers, queryHeads: config.queryHeads, kvHeads: config.kvHeads, headDim: config.headDim };
}

/** Rejects configs no LLaMA decoder can have, so a foreign file fails here and not deep in a loop. */
export function validateConfig(config: ModelConfig, source: string): ModelConfig {
  const integers = {
    dim: config.dim,
    hiddenDim: config.hiddenDim,
    layers: config.layers,
    queryHeads: config.queryHeads,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
    contextLength: config.contextLength,
  };
  for (const [name, value] of Object.entries(integers)) {
    if (!Number.isInteger(value) || value <= 0 || value > 1 << 24) {
      throw new ModelFormatError(`${source}: ${name} is ${value}, not a plausible model size; is this a LLaMA model file?`);
    }
  }
  if (config.dim !== config.queryHeads * config.headDim) {
    throw new ModelFormatError(`${source}: dim ${config.dim} is not heads ${config.queryHeads} x head size ${config.headDim}.`);
  }
  if (config.queryHeads % config.kvHeads !== 0 || config.headDim % 2 !== 0) {
    throw new ModelFormatError(
      `${source}: ${config.queryHeads} query heads cannot share ${config.kvHeads} KV heads of size ${config.headDim}.`,
    );
  }
  if (!(config.ropeTheta > 0) || !(config.normEps > 0) || !Number.isFinite(config.ropeTheta + config.normEps)) {
    throw new ModelFormatError(`${source}: rope theta ${config.ropeTheta} and norm eps ${config.normEps} must be positive.`);
  }
  return config;
}
