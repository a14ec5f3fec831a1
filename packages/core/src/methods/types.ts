import type { Scorer } from '../scorers/types.js';
import type { OptionSpec, OptionSpecs, OptionValues } from './option-spec.js';

/**
 * How a method splits the budget: within each layer across its KV heads (`uniform`, or `adaptive`
 * reading `alpha`), or `joint`: one sort across all layers and KV heads of the sequence, counts rounded
 * to whole blocks (KV-Compress; reads `blockSize` and `maxEvictPerStep`).
 */
export type Allocation = 'uniform' | 'adaptive' | 'joint';

/**
 * What decode-time eviction selects with: `recent` re-scores the cache from the recent recorded
 * queries at each eviction (SnapKV, kvpress's DecodingPress); `cumulative` keeps a running sum per
 * entry of every score it received — at prefill from the prompt queries the scorer reads, then from
 * every decode query — and selects by the sums (H2O, KV-Compress).
 */
export type DecodeScores = 'recent' | 'cumulative';
/** How a method splits the budget across layers (`pyramid` reads `beta`); see `src/layer-budgets/`. */
export type LayerSchedule = 'uniform' | 'pyramid';

/**
 * The options a method declares. Every method declares `window`: the planner always keeps the
 * last `window` prompt tokens, scorers read their queries, and metrics measure over them.
 */
export type MethodOptionSpecs = OptionSpecs & {
  /** The observation window: the last `window` prompt tokens, always kept, whose queries score the rest. */
  readonly window: OptionSpec<number>;
};

/** True for the erased `Method` type (its options are not known at compile time). */
type IsErased<Specs> = string extends keyof Specs ? true : false;

/**
 * What a method's scorer is given: its resolved options, typed by the declaration. For a method
 * whose declaration is not known at compile time (the bare `Method` type) the scorer's options are
 * `any`: the planner passes it the options resolved from that same method.
 */
export type ScorerInput<Specs extends MethodOptionSpecs> = IsErased<Specs> extends true ? any : OptionValues<Specs>;

/**
 * A compression method: a scorer composed with layer budgets and a head allocation, and the
 * options it reads. Build one with `defineMethod` (one file per method, in `src/methods/`); `full`
 * has no scorer (nothing is evicted). `Method` with no type arguments is any method.
 */
export interface Method<Name extends string = string, Specs extends MethodOptionSpecs = MethodOptionSpecs> {
  /** The method's name, as `compress` and the CLI take it. */
  readonly name: Name;
  /** One line for help texts. */
  readonly summary: string;
  /** The paper that introduced it (title and arXiv link). */
  readonly paper: string;
  /** Scores a head's selectable entries; `null` = evict nothing. */
  readonly scorer: Scorer<ScorerInput<Specs>> | null;
  /** How the budget is split across layers. */
  readonly schedule: LayerSchedule;
  /** How a layer's budget is split across its KV heads (or across the whole sequence: `joint`). */
  readonly allocation: Allocation;
  /** What decode-time eviction selects with (absent: `recent`). */
  readonly decodeScores?: DecodeScores;
  /** The options this method reads, each with its default, its check and a line of documentation. */
  readonly options: Specs;
  /** The declared options' defaults (frozen); callers override any of them. */
  readonly defaults: OptionValues<Specs>;
}

/**
 * The resolved options of method `M`: exactly the options it declares, typed by its declaration.
 * For the bare `Method` type, whose declaration is unknown at compile time, this is `Fallback`
 * (the options of every registered method; at run time only the method's own are present).
 */
export type DeclaredOptions<M extends Method, Fallback> = IsErased<M['options']> extends true ? Fallback : M['defaults'];

/** The resolved options of some method: `window`, and whatever else it declares. */
export type ResolvedMethodOptions = OptionValues<MethodOptionSpecs>;
