/**
 * What a scorer sees of one KV head: its cached keys with their original positions, and the recent
 * queries of the `G` query heads that read it. The trailing `protectedCount` entries (the
 * observation / recent window) are always kept and are not scored.
 */
export interface HeadContext {
  /** `[length][headDim]`, post-RoPE, in storage order (ascending positions). */
  readonly keys: Float32Array;
  readonly positions: Int32Array;
  /** `[rows][groupSize][headDim]`, post-RoPE: the observation queries, oldest first. */
  readonly queries: Float32Array;
  /** Absolute position of each query row; a query sees keys at positions <= its own (causal). */
  readonly queryPositions: Int32Array;
  readonly headDim: number;
  readonly groupSize: number;
  /** Trailing entries kept whatever their score. */
  readonly protectedCount: number;
}

export interface ScorerOptions {
  readonly window: number;
  readonly kernelSize: number;
  readonly pooling: 'max' | 'avg';
  readonly groupReduce: 'mean' | 'max';
  readonly sinks: number;
}

/**
 * Scores the selectable entries `[0, length - protectedCount)` of one KV head; higher means more
 * worth keeping. Scores must be finite (every backend selects on f32 bits).
 */
export interface Scorer {
  readonly name: string;
  score(head: HeadContext, options: ScorerOptions): Float32Array;
}
