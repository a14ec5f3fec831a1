/**
 * What prefill saw in one layer, for planning compression: post-RoPE queries of all prompt tokens
 * `[n][queryHeads][headDim]`, and the keys and values `[n][kvHeads][headDim]` it appended to the store.
 */
export interface LayerObservation {
  readonly queries: Float32Array;
  readonly keys: Float32Array;
  readonly values: Float32Array;
}
