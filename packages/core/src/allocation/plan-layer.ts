import type { LayerPlan } from '../compression-plan.js';
import { InvalidNumberError, OptionError } from '../errors.js';
import type { Method, ResolvedMethodOptions } from '../methods/types.js';
import type { HeadContext } from '../scorers/types.js';
import { missingOutputProjection, readsOutputProjection } from '../scorers/output-projection.js';
import { adaptiveAllocation } from './adaptive.js';
import { type BlockAlignment, alignCapsBesideWindow, alignCapsToBlocks } from './block-aligned.js';
import { jointKeptIndices } from './joint.js';
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
 * A `joint` allocation takes each head's share from {@link HeadContext.jointKeep} (decided across
 * layers by the planner); a scorer with a second stage (`rescore`, CriticalKV) picks the granted
 * entries by its second-stage scores. A scorer that reads the model's output projection is refused
 * with an `OptionError` when the heads lack it (only when something must be scored). `alignment` with a
 * `blockSize` > 1 rounds the heads' shares to whole blocks of a paged store ({@link alignCapsToBlocks},
 * or {@link alignCapsBesideWindow} with `windowApart`).
 */
export function planLayer(
  method: Method,
  options: ResolvedMethodOptions,
  heads: readonly HeadContext[],
  selectable: number,
  alignment: BlockAlignment = { blockSize: 1 },
): LayerPlan {
  const all = keepAllPlan(method, heads, selectable);
  if (all) return all;
  const scorer = method.scorer!;
  if (readsOutputProjection(scorer) && heads.some((head) => head.outputProjection === undefined)) throw missingOutputProjection(method.name);
  const scores = heads.map((head, h) => requireFiniteScores(scorer.name, h, scorer.score(head, options)));
  const rescore = scorer.rescore;
  const second = rescore ? (h: number, keep: number) => requireFiniteScores(scorer.name, h, rescore(heads[h]!, scores[h]!, keep, options)) : undefined;
  return selectLayer(method, options, heads, scores, selectable, second, alignment);
}

/** What {@link selectLayer} needs of a head: its extent, and a joint allocation's share. */
export type SelectionHead = HeadExtent & Pick<HeadContext, 'jointKeep'>;

/**
 * The selection half of {@link planLayer}, for scores computed elsewhere (decode-time eviction's
 * running sums): the method's allocation splits `selectable` per head on average (a `joint` one takes
 * each head's {@link HeadContext.jointKeep}), and each head keeps its granted best — by `rescore(h,
 * granted)` when given (a scorer's second stage) — plus its protected tail; `alignment` rounds the
 * shares to whole blocks (not for a joint allocation, which rounds its own).
 */
export function selectLayer(
  method: Method,
  options: ResolvedMethodOptions,
  heads: readonly SelectionHead[],
  scores: readonly Float32Array[],
  selectable: number,
  rescore?: (head: number, keep: number) => Float32Array,
  alignment: BlockAlignment = { blockSize: 1 },
): LayerPlan {
  if (method.allocation === 'joint') {
    const keep = heads.map((head, h) => {
      if (head.jointKeep === undefined) {
        throw new OptionError(`Method "${method.name}" splits its budget jointly across layers; plan it with planCompression (or evict with DecodeEviction), not one layer alone.`);
      }
      return jointKeptIndices(scores[h]!, head.jointKeep);
    });
    return withProtectedTails(heads, keep);
  }
  const allocated =
    method.allocation === 'adaptive'
      ? adaptiveAllocation(scores, selectable, adaptiveAlpha(method, options))
      : uniformAllocation(scores, selectable);
  const protectedCounts = heads.map((head) => head.protectedCount);
  // the layer's budget in rows (Ada-KV's safeguard may round a few below it)
  const budgetRows = heads.reduce((sum, head, h) => sum + Math.min(scores[h]!.length, selectable) + protectedCounts[h]!, 0);
  const { blockSize, windowApart } = alignment;
  const align = windowApart ? alignCapsBesideWindow : alignCapsToBlocks;
  const caps = blockSize > 1 ? align(scores, allocated, protectedCounts, blockSize, budgetRows) : allocated;
  const final = rescore ? scores.map((_, h) => rescore(h, caps[h]!)) : scores;
  return withProtectedTails(heads, final.map((row, h) => topKIndices(row, caps[h]!)));
}
