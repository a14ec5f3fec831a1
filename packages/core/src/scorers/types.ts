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
}

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
