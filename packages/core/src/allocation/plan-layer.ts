import type { LayerPlan } from '../compression-plan.js';
import { InvalidNumberError, OptionError } from '../errors.js';
import type { Method, ResolvedMethodOptions } from '../methods/types.js';
import type { HeadContext } from '../scorers/types.js';
import { adaptiveAllocation } from './adaptive.js';
import { topKIndices } from './top-k.js';
import { uniformAllocation } from './uniform.js';

const everything = (length: number): Int32Array => Int32Array.from({ length }, (_, i) => i);

/** What planning needs to know of a head beyond its scores: how many entries, how many protected at the end. */
export type HeadExtent = Pick<HeadContext, 'positions' | 'protectedCount'>;

/** The plan that keeps every entry, when the method evicts nothing or the budget covers the layer; else null. */
export function keepAllPlan(method: Method, heads: readonly HeadExtent[], selectable: number): LayerPlan | null {
  const selectableTotal = heads.reduce((sum, h) => sum + h.positions.length - h.protectedCount, 0);
  if (method.scorer !== null && selectableTotal > heads.length * selectable) return null;
  const lengths = heads.map((h) => h.positions.length);
  return { kept: lengths.map(everything), budgetPerHead: Int32Array.from(lengths) };
}

/** Throws unless every score of head `h` is finite (every backend selects on f32 bits). */
export function requireFiniteScores(scorer: string, h: number, row: Float32Array): Float32Array {
  if (row.some((value) => !Number.isFinite(value))) {
    throw new InvalidNumberError(`Scorer "${scorer}" produced a non-finite score for head ${h}; scores must be finite numbers.`);
  }
  return row;
}

/** The layer plan from each head's chosen selectable entries (ascending) plus its protected tail. */
export function withProtectedTails(heads: readonly HeadExtent[], chosen: readonly Int32Array[]): LayerPlan {
  const kept = heads.map((head, h) => {
    const length = head.positions.length;
    const out = new Int32Array(chosen[h]!.length + head.protectedCount);
    out.set(chosen[h]!);
    for (let i = 0; i < head.protectedCount; i++) out[chosen[h]!.length + i] = length - head.protectedCount + i;
    return out;
  });
  return { kept, budgetPerHead: Int32Array.from(kept, (k) => k.length) };
}

/** Ada-KV's `alpha` from a method's resolved options (every adaptive method declares it). */
export function adaptiveAlpha(method: Method, options: ResolvedMethodOptions): number {
  const { alpha } = options;
  if (typeof alpha !== 'number') {
    throw new OptionError(`Method "${method.name}" splits budgets adaptively but has no alpha option; wrap it with adaptive() instead.`);
  }
  return alpha;
}

/**
 * Plans one layer: score each head's selectable entries, split `selectable` (B' per head on average)
 * across heads by the method's allocation, keep each head's top entries plus its protected tail.
 * `options` are the method's resolved options (`resolveMethodOptions`); its scorer gets them whole.
 */

export function planLayer(method: Method, options: ResolvedMethodOptions, heads: readonly HeadContext[], selectable: number): LayerPlan {
  const all = keepAllPlan(method, heads, selectable);
  if (all) return all;
  const scorer = method.scorer!;
  const scores = heads.map((head, h) => requireFiniteScores(scorer.name, h, scorer.score(head, options)));
  const caps =
    method.allocation === 'adaptive'
      ? adaptiveAllocation(scores, selectable, adaptiveAlpha(method, options))
      : uniformAllocation(scores, selectable);
  return withProtectedTails(heads, scores.map((row, h) => topKIndices(row, caps[h]!)));
}
