/** One decoder block's weights; matrices are row-major `[out][in]` (PyTorch `nn.Linear` layout). */
export interface LayerWeights {
  readonly attentionNorm: Float32Array; // [dim]
  readonly wq: Float32Array; // [queryHeads * headDim][dim]
  readonly wk: Float32Array; // [kvHeads * headDim][dim]
  readonly wv: Float32Array; // [kvHeads * headDim][dim]
  readonly wo: Float32Array; // [dim][queryHeads * headDim]
  readonly ffnNorm: Float32Array; // [dim]
  readonly w1: Float32Array; // gate, [hiddenDim][dim]
  readonly w2: Float32Array; // down, [dim][hiddenDim]
  readonly w3: Float32Array; // up, [hiddenDim][dim]
}

/** All weights of a LLaMA-family decoder, dequantized to f32. */
export interface ModelWeights {
  readonly tokenEmbedding: Float32Array; // [vocab][dim]
  readonly layers: readonly LayerWeights[];
  readonly finalNorm: Float32Array; // [dim]
  /** The classifier, `[vocab][dim]`; the very same array as `tokenEmbedding` when the model ties them. */
  readonly classifier: Float32Array;
  /** RoPE rotation per (position, pair): `[contextLength][headDim / 2]` cosines and sines. */
  readonly ropeCos: Float32Array;
  readonly ropeSin: Float32Array;
}
