/** What to keep in one layer. */
export interface LayerPlan {
  /** Per KV head: indices of the entries to keep (into the head's current storage order), strictly ascending. */
  readonly kept: readonly Int32Array[];
  /** Per KV head: how many entries the allocation granted (window included, capped at the head's length). */
  readonly budgetPerHead: Int32Array;
}

/** The result of planning: which entries each (layer, KV head) keeps. Apply it with `applyPlan`. */
export interface CompressionPlan {
  /** The method's name. */
  readonly method: string;
  /** Requested average tokens per KV head, window included. */
  readonly budget: number;
  /** The observation window kept in every head. */
  readonly window: number;
  /** One plan per layer. */
  readonly layers: readonly LayerPlan[];
  /** Entries the budget asks for over all layers and KV heads (capped by what exists). */
  readonly requestedTotal: number;
  /** Entries actually kept; may differ from `requestedTotal` by rounding in the Ada-KV safeguard. */
  readonly achievedTotal: number;
  /** Entries before compression over all layers and KV heads. */
  readonly originalTotal: number;
  /**
   * Present only when nothing was planned, and then says why, e.g. `'the prompt (5 tokens) is not longer
   * than the observation window (16)'`: a scoring method needs prompt tokens beyond its window to score.
   * Such a plan keeps every entry (`achievedTotal === originalTotal`), and applying it changes nothing.
   */
  readonly skipped?: string;
}
