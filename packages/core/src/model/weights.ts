import type { TensorType } from '@adakv/allocator-wasm';

/** One decoder block's weights; matrices are row-major `[out][in]` (PyTorch `nn.Linear` layout). */
export interface LayerWeights {
  /** RMS-norm weight before attention `[dim]`. */
  readonly attentionNorm: Float32Array;
  /** Query projection `[queryHeads * headDim][dim]`. */
  readonly wq: Float32Array;
  /** Key projection `[kvHeads * headDim][dim]`. */
  readonly wk: Float32Array;
  /** Value projection `[kvHeads * headDim][dim]`. */
  readonly wv: Float32Array;
  /** Attention output projection `[dim][queryHeads * headDim]`. */
  readonly wo: Float32Array;
  /** RMS-norm weight before the feed-forward network `[dim]`. */
  readonly ffnNorm: Float32Array;
  /** Feed-forward gate projection `[hiddenDim][dim]`. */
  readonly w1: Float32Array;
  /** Feed-forward down projection `[dim][hiddenDim]`. */
  readonly w2: Float32Array;
  /** Feed-forward up projection `[hiddenDim][dim]`. */
  readonly w3: Float32Array;
  /** Query bias `[queryHeads * headDim]` (Qwen 2), added after the projection; absent in LLaMA. */
  readonly bq?: Float32Array;
  /** Key bias `[kvHeads * headDim]` (Qwen 2). */
  readonly bk?: Float32Array;
  /** Value bias `[kvHeads * headDim]` (Qwen 2). */
  readonly bv?: Float32Array;
}

/** A tensor as a file stores it: f32 values, or the raw bytes of a GGML type (quantized blocks, halves). */
export type StoredTensor = Float32Array | {
  /** The GGML tensor type of `bytes`. */
  readonly type: TensorType;
  /** The tensor's bytes exactly as the file holds them. */
  readonly bytes: Uint8Array;
};

/** A block's weights as stored: what the WASM engine reads in place, without dequantizing. */
export type StoredLayerWeights = { readonly [K in keyof LayerWeights]: K extends 'bq' | 'bk' | 'bv' | 'attentionNorm' | 'ffnNorm' ? LayerWeights[K] : StoredTensor };

/** All weights as the file stores them (see {@link StoredTensor}); norms, biases and RoPE tables are f32. */
export interface StoredWeights {
  /** Token embeddings `[vocab][dim]`. */
  readonly tokenEmbedding: StoredTensor;
  /** Every decoder block, first to last. */
  readonly layers: readonly StoredLayerWeights[];
  /** RMS-norm weight after the last block `[dim]`. */
  readonly finalNorm: Float32Array;
  /** The classifier `[vocab][dim]`; the very same object as `tokenEmbedding` when tied. */
  readonly classifier: StoredTensor;
  /** RoPE cosines `[contextLength][headDim / 2]`. */
  readonly ropeCos: Float32Array;
  /** RoPE sines `[contextLength][headDim / 2]`. */
  readonly ropeSin: Float32Array;
}

/** All weights of a LLaMA-family decoder, dequantized to f32. */
export interface ModelWeights {
  /** Token embeddings `[vocab][dim]`. */
  readonly tokenEmbedding: Float32Array;
  /** Every decoder block, first to last. */
  readonly layers: readonly LayerWeights[];
  /** RMS-norm weight after the last block `[dim]`. */
  readonly finalNorm: Float32Array;
  /** The classifier, `[vocab][dim]`; the very same array as `tokenEmbedding` when the model ties them. */
  readonly classifier: Float32Array;
  /** RoPE rotation per (position, pair): `[contextLength][headDim / 2]` cosines and sines. */
  readonly ropeCos: Float32Array;
  /** RoPE sines `[contextLength][headDim / 2]`. */
  readonly ropeSin: Float32Array;
}
