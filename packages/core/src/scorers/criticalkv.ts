import { topKIndices } from '../allocation/top-k.js';
import { projectedValueNorms } from './output-projection.js';
import { type SnapkvScorerOptions, snapkvScorer } from './snapkv.js';
import type { HeadContext, Scorer } from './types.js';

/** What the CriticalKV scorer reads of its method's options. */
export interface CriticalScorerOptions extends SnapkvScorerOptions {
  /** Added to the attention score before it is weighed by the value norm (kvpress: 1e-4). */
  readonly epsilon: number;
  /** Share of a head's granted entries picked by attention alone, before value weighing (kvpress: 0.5). */
  readonly firstStageRatio: number;
}

/** Largest finite f32: what stage-one picks score in the second stage, so they stay kept. */
const PICKED = 3.4028234663852886e38;

/**
 * CriticalKV (Feng et al., 2025, arXiv 2502.03805, the Ada-KV authors' follow-up; kvpress
 * `CriticalKVPress`) over SnapKV scores. An entry's contribution to the attention output is its
 * attention weight times its value as the output projection sees it, so after the allocation grants a
 * head `keep` entries: stage one keeps the `floor(keep * firstStageRatio)` best by attention alone;
 * stage two fills the rest by `(attention + epsilon) * ||W_o v||_1` (the L1 norm of the value projected
 * through each query head's W_o columns, averaged over the GQA group). With `firstStageRatio = 0` the
 * score is the product alone. The base (allocation) scores are SnapKV's.
 */
export const criticalScorer: Scorer<CriticalScorerOptions> = {
  name: 'critical-snapkv',
  reads: ['values', 'outputProjection'],
  score: (head, options) => snapkvScorer.score(head, options),
  rescore(head: HeadContext, scores: Float32Array, keep: number, options: CriticalScorerOptions): Float32Array {
    const { values, outputProjection } = head;
    if (!values || !outputProjection) throw new TypeError('criticalScorer.rescore needs the head\'s values and output projection (the planner fills them).');
    const norms = projectedValueNorms(values.subarray(0, scores.length * head.headDim), outputProjection, head.groupSize, head.headDim);
    const out = Float32Array.from(scores, (s, t) => (s + options.epsilon) * norms[t]!);
    for (const t of topKIndices(scores, Math.floor(keep * options.firstStageRatio))) out[t] = PICKED;
    return out;
  },
};
