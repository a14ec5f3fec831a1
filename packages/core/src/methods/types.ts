import type { Scorer } from '../scorers/types.js';

/** Options every method understands; each method documents which ones it reads. */
export interface MethodOptions {
  /** Observation window `w`: the last `w` prompt tokens, always kept, whose queries score the prefix. */
  window: number;
  /** SnapKV 1-D pooling kernel size `k` (odd; 1 disables pooling). */
  kernelSize: number;
  /** SnapKV pooling along the sequence. */
  pooling: 'max' | 'avg';
  /** How the `G` query heads of a GQA group are reduced before pooling. */
  groupReduce: 'mean' | 'max';
  /** Ada-KV safeguard: the share of each head's budget guaranteed to it (1 = uniform allocation). */
  alpha: number;
  /** PyramidKV schedule steepness: the top layer keeps `floor(B' / beta)`-ish tokens. */
  beta: number;
  /** StreamingLLM attention sinks: the first tokens, always kept. */
  sinks: number;
}

/** How a method splits a layer's budget across its KV heads. */
export type Allocation = 'uniform' | 'adaptive';
/** How a method splits the budget across layers. */
export type LayerSchedule = 'uniform' | 'pyramid';

/**
 * A compression method: a scorer composed with a layer schedule and a head allocation. `full` has
 * no scorer (nothing is evicted).
 */
export interface Method {
  readonly name: string;
  /** One line for help texts. */
  readonly summary: string;
  /** The paper that introduced it (title and arXiv link). */
  readonly paper: string;
  readonly scorer: Scorer | null;
  readonly schedule: LayerSchedule;
  readonly allocation: Allocation;
  /** Defaults of the options this method reads; callers override any of them. */
  readonly defaults: MethodOptions;
}
