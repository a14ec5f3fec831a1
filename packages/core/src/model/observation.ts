/**
 * What prefill saw in one layer, for planning compression: post-RoPE queries of all prompt tokens
 * `[n][queryHeads][headDim]`, and the keys and values `[n][kvHeads][headDim]` it appended to the store.
 */
export interface LayerObservation {
  /** Post-RoPE queries `[n][queryHeads][headDim]`. */
  readonly queries: Float32Array;
  /** Post-RoPE keys `[n][kvHeads][headDim]`. */
  readonly keys: Float32Array;
  /** Values `[n][kvHeads][headDim]`. */
  readonly values: Float32Array;
}
