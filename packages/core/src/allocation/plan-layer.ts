import type { LayerPlan } from '../compression-plan.js';
import { InvalidNumberError } from '../errors.js';
import type { Method, MethodOptions } from '../methods/types.js';
import type { HeadContext } from '../scorers/types.js';
import { adaptiveAllocation } from './adaptive.js';
import { topKIndices } from './top-k.js';
import { uniformAllocation } from './uniform.js';

const everything = (length: number): Int32Array => Int32Array.from({ length }, (_, i) => i);

/**
 * Plans one layer: score each head's selectable entries, split `selectable` (B' per head on average)
 * across heads by the method's allocation, keep each head's top entries plus its protected tail.
 */
export function planLayer(method: Method, options: MethodOptions, heads: readonly HeadContext[], selectable: number): LayerPlan {
  const lengths = heads.map((h) => h.positions.length);
  const selectableTotal = heads.reduce((sum, h) => sum + h.positions.length - h.protectedCount, 0);
  if (method.scorer === null || selectableTotal <= heads.length * selectable) {
    return { kept: lengths.map(everything), budgetPerHead: Int32Array.from(lengths) };
  }
  const scorer = method.scorer;
  const scores = heads.map((head, h) => {
    const row = scorer.score(head, options);
    if (row.some((value) => !Number.isFinite(value))) {
      throw new InvalidNumberError(`Scorer "${scorer.name}" produced a non-finite score for head ${h}; scores must be finite numbers.`);
    }
    return row;
  });
  const caps =
    method.allocation === 'adaptive'
      ? adaptiveAllocation(scores, selectable, options.alpha)
      : uniformAllocation(scores, selectable);
  const kept = heads.map((head, h) => {
    const chosen = topKIndices(scores[h]!, caps[h]!);
    const length = lengths[h]!;
    const out = new Int32Array(chosen.length + head.protectedCount);
    out.set(chosen);
    for (let i = 0; i < head.protectedCount; i++) out[chosen.length + i] = length - head.protectedCount + i;
    return out;
  });
  return { kept, budgetPerHead: Int32Array.from(kept, (k) => k.length) };
}
