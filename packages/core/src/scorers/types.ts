/**
 * What a scorer sees of one KV head: its cached keys with their original positions, and the recent
 * queries of the `G` query heads that read it. The trailing `protectedCount` entries (the
 * observation / recent window) are always kept and are not scored.
 */
export interface HeadContext {
  /** `[length][headDim]`, post-RoPE, in storage order (ascending positions). */
  readonly keys: Float32Array;
  /** Original position of each key. */
  readonly positions: Int32Array;
  /** `[rows][groupSize][headDim]`, post-RoPE: the observation queries, oldest first. */
  readonly queries: Float32Array;
  /** Absolute position of each query row; a query sees keys at positions <= its own (causal). */
  readonly queryPositions: Int32Array;
  /** Width of one head. */
  readonly headDim: number;
  /** Query heads that read this KV head (`G`). */
  readonly groupSize: number;
  /** Trailing entries kept whatever their score. */
  readonly protectedCount: number;
  /**
   * The layer this head belongs to (filled by every planner; optional so hand-made contexts stay
   * valid). A scorer that draws per-entry randomness (the random baseline) reads it.
   */
  readonly layer?: number;
  /** The KV head's index in its layer (filled by every planner, as {@link HeadContext.layer}). */
  readonly head?: number;
  /**
   * `[length][headDim]`: the head's values in storage order, filled only for a scorer that lists
   * `'values'` in {@link Scorer.reads} (CriticalKV).
   */
  readonly values?: Float32Array;
  /**
   * `[modelDim][groupSize][headDim]`: the columns of the layer's attention output projection W_o
   * that this head's `G` query heads write through (row `j`, query head `m` of the group, component
   * `i` = `wo[j][(head * G + m) * headDim + i]`). Filled only for a scorer that lists
   * `'outputProjection'` in {@link Scorer.reads}, when the caller handed the model's projection.
   */
  readonly outputProjection?: Float32Array;
  /**
   * Selectable entries this head keeps, when the method's allocation is `joint` (KV-Compress): the
   * split was decided by one sort across all layers and heads before the layer is planned. Set by
   * the planner, read by the selection, never by scorers.
   */
  readonly jointKeep?: number;
}

/** Optional parts of a {@link HeadContext} a scorer may need beyond keys and queries. */
export type ScorerInput = 'values' | 'outputProjection';

/** SnapKV pooling along the sequence. */
export type Pooling = 'max' | 'avg';
/** How the `G` query heads of a GQA group are combined into one row per KV head. */
export type GroupReduce = 'mean' | 'max';

/**
 * Scores the selectable entries `[0, length - protectedCount)` of one KV head; higher means more
 * worth keeping. Scores must be finite (every backend selects on f32 bits).
 *
 * `Options` is what the scorer reads of its method's resolved options (e.g. `{ kernelSize, pooling }`).
 * `score` is a function property, so a method can only use a scorer whose options it declares:
 * `defineMethod` fails to compile otherwise.
 */
export interface Scorer<Options = Readonly<Record<string, unknown>>> {
  /** The scorer's name. */
  readonly name: string;
  /** Scores the selectable entries of one KV head (`length - protectedCount` of them). */
  readonly score: (head: HeadContext, options: Options) => Float32Array;
  /**
   * Optional parts of the context the scorer reads (`values`, `outputProjection`): the planners fill
   * them, and refuse with an `OptionError` when one cannot be had (no output projection given).
   */
  readonly reads?: readonly ScorerInput[];
  /**
   * A second stage after the allocation (CriticalKV): given the head's base `scores` and the count
   * `keep` of selectable entries it was granted, the scores its entries are finally picked by (the top
   * `keep` of them are kept). Absent: the base scores pick.
   */
  readonly rescore?: (head: HeadContext, scores: Float32Array, keep: number, options: Options) => Float32Array;
}

/**
 * The options of the built-in scorers together.
 * @deprecated Each scorer declares its own options type (`SnapkvScorerOptions`, `H2oScorerOptions`,
 * `StreamingScorerOptions`); a method's resolved options are typed by its declaration.
 */
export interface ScorerOptions {
  /** Observation window: recent entries always kept, and the queries that score. */
  readonly window: number;
  /** SnapKV's pooling kernel along the sequence. */
  readonly kernelSize: number;
  /** SnapKV's pooling. */
  readonly pooling: Pooling;
  /** How a GQA group's query heads combine. */
  readonly groupReduce: GroupReduce;
  /** StreamingLLM's attention sinks: first entries always kept. */
  readonly sinks: number;
}
