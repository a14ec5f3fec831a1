import { type JointHead, jointEviction } from './allocation/joint.js';
import { type BlockAlignment, fitBesideWindow } from './allocation/block-aligned.js';
import { planLayer, requireFiniteScores } from './allocation/plan-layer.js';
import { type BudgetSpec, resolveBudget } from './budget.js';
import type { CompressionPlan, LayerPlan } from './compression-plan.js';
import { BudgetError, InvalidNumberError, OptionError, ShapeError } from './errors.js';
import { type CacheGeometry, validateGeometry } from './geometry.js';
import { pyramidLayerBudgets } from './layer-budgets/pyramid.js';
import { uniformLayerBudgets } from './layer-budgets/uniform.js';
import { type MethodOverrides, resolveMethodOptions } from './methods/options.js';
import { type MethodName, type MethodOptions, getMethod } from './methods/registry.js';
import type { Method } from './methods/types.js';
import type { LayerObservation } from './model/observation.js';
import { observationHeadContext, observationHeadValues, observedLength } from './scorers/observation-context.js';
import { type OutputProjection, headOutputProjection, readsOutputProjection, readsValues } from './scorers/output-projection.js';
import type { HeadContext } from './scorers/types.js';
import type { KvStore } from './store.js';

/** The options a request may carry with method `M` (a registered name or a method object). */
export type RequestOptions<M extends MethodName | Method> = M extends Method ? MethodOverrides<M> : Partial<MethodOptions>;

/** A compression to run: the method, the budget and option overrides. */
export interface CompressionRequest<M extends MethodName | Method = MethodName | Method> {
  /**
   * A registered method's name (`MethodName`: a typo does not compile; check user input with
   * `isMethodName`) or a method object (`defineMethod`, `adaptive`).
   */
  readonly method: M;
  /** Budget per KV head, window included: tokens (`48`, `{ tokensPerHead: 48 }`) or `{ ratio: 0.25 }` of the prompt. */
  readonly budget: BudgetSpec;
  /**
   * Overrides of the method's defaults. Options another registered method reads but this one does
   * not are checked and ignored, so one object can serve several methods.
   */
  readonly options?: RequestOptions<M>;
  /**
   * The model's attention output projections (`modelOutputProjection(model)`), for methods that weigh
   * entries by their values as W_o sees them (`criti-snapkv`, `ada-criti-snapkv`): such a method is
   * refused with an `OptionError` without it. Other methods ignore it.
   */
  readonly outputProjection?: OutputProjection;
}

/**
 * What {@link planCompression} plans from: a request with the cache geometry and the prefill's
 * observations.
 */
export interface PlanInput<M extends MethodName | Method = MethodName | Method> extends CompressionRequest<M> {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  /** What prefill saw, one entry per layer. */
  readonly observations: readonly LayerObservation[];
  /**
   * Rows per block of the paged store the plan is for: with more than 1, every layer keeps whole
   * blocks per head (`alignCapsToBlocks`: its budget's entries rounded down to whole blocks, the blocks
   * split across heads by the scores of the entries they would add), so no block holds empty rows; a
   * joint method (`kvcompress`) rounds its shares to these blocks instead of its `blockSize` option.
   * Default 1: each head keeps exactly the method's allocation.
   */
  readonly blockSize?: number;
  /**
   * With `blockSize`: round each head's entries besides its protected window to whole blocks, so that
   * the window can take a block apart (where an int8/int4 store holds it in f32: `planForBytes`'s
   * `fullPrecisionWindow`); a head keeping all its entries keeps a partly filled last block only if the
   * window still fits in it. Default false: each head's kept entries, window included, fill whole blocks.
   */
  readonly windowApart?: boolean;
}

function requireFinite(values: Float32Array, what: string, layer: number): void {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new InvalidNumberError(`Layer ${layer} ${what} hold ${values[bad]} at index ${bad}; compression needs finite numbers.`);
  }
}

/** A validated request: the method, its options, and each layer's selectable budget. */
export interface PlanSetup {
  readonly method: Method;
  readonly options: MethodOptions;
  readonly geometry: CacheGeometry;
  readonly observations: readonly LayerObservation[];
  /** Prompt length, budget and window in tokens per head. */
  readonly n: number;
  readonly budget: number;
  readonly window: number;
  /** B' of each layer (its layer budget): the budget beyond the window. */
  readonly schedule: ArrayLike<number>;
  /** Why nothing is planned (the prompt is too short to score); the plan then keeps everything. */
  readonly skipped?: string;
  /** The model's output projections, when the request gave them. */
  readonly outputProjection?: OutputProjection;
  /** A joint allocation's share of each (layer, KV head): selectable entries kept, decided across layers. */
  readonly jointKeep?: readonly Int32Array[];
  /** Rows per block the heads' shares are rounded to (1: not rounded). */
  readonly blockSize?: number;
  /** Whether the shares are rounded apart from the window (see {@link PlanInput.windowApart}). */
  readonly windowApart?: boolean;
}

/** How `setup` rounds its heads' shares to blocks (see {@link PlanInput.blockSize}, {@link PlanInput.windowApart}). */
export function alignmentOf(setup: PlanSetup): BlockAlignment {
  return { blockSize: setup.blockSize ?? 1, windowApart: setup.windowApart };
}

const isRatioBudget = (spec: BudgetSpec): boolean => typeof spec === 'object' && spec !== null && 'ratio' in spec;

function requireWindowFits(budget: number, window: number): void {
  if (budget < window) {
    throw new BudgetError(
      `A budget of ${budget} tokens per head cannot hold the observation window of ${window} tokens, which is always kept; ` +
        `raise the budget to at least ${window} or lower the window.`,
    );
  }
}

/**
 * Validates a plan request (shapes, numbers, window, budget) and resolves its layer budgets. For a
 * scoring method and a prompt no longer than its window the setup carries `skipped` (the reason) and
 * planning keeps everything; a token budget below the window is a {@link BudgetError} either way.
 */
export function preparePlan<M extends MethodName | Method>(input: PlanInput<M>): PlanSetup {
  const method: Method = typeof input.method === 'string' ? getMethod(input.method) : input.method;
  const options = resolveMethodOptions(method, input.options);
  const geometry = validateGeometry(input.geometry);
  const { observations } = input;
  if (observations.length !== geometry.layers) {
    throw new ShapeError(`Expected one observation per layer (${geometry.layers}), got ${observations.length}.`);
  }
  const n = observedLength(geometry, observations[0]!);
  observations.forEach((observation, layer) => {
    if (observedLength(geometry, observation) !== n) {
      throw new ShapeError(`Layer ${layer} observed ${observedLength(geometry, observation)} tokens, layer 0 observed ${n}.`);
    }
    requireFinite(observation.queries, 'queries', layer);
    requireFinite(observation.keys, 'keys', layer);
    requireFinite(observation.values, 'values', layer);
  });
  const blockSize = input.blockSize ?? 1;
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new OptionError(`blockSize must be a whole number >= 1, got ${blockSize}.`);
  const setup = setupForPrompt(method, options, geometry, n, observations, input.budget);
  const aligned = blockSize > 1 ? { ...setup, blockSize, ...(input.windowApart ? { windowApart: true } : {}) } : setup;
  const withProjection = input.outputProjection ? { ...aligned, outputProjection: input.outputProjection } : aligned;
  return method.allocation === 'joint' && !isSkipped(withProjection) ? { ...withProjection, jointKeep: jointShares(withProjection) } : withProjection;
}

/**
 * A joint allocation's share of each (layer, KV head) right after prefill: every layer's heads
 * scored, one sort across the sequence (see `jointEviction`), the target being the sum of the layer
 * budgets, window included. No per-compression limit applies to a prompt's compression.
 */
function jointShares(setup: PlanSetup): Int32Array[] {
  const { geometry, method, options, n, window, schedule } = setup;
  if (method.scorer === null) return [];
  const scorer = method.scorer;
  const heads: JointHead[] = [];
  let target = 0;
  // apart from the window, the shares round the entries besides it (the walk sees heads of n - window)
  const apart = setup.windowApart ? window : 0;
  for (let layer = 0; layer < geometry.layers; layer++) {
    target += geometry.kvHeads * (Math.min(n, schedule[layer]! + window) - apart);
    for (const head of layerHeads(setup, layer)) heads.push({ scores: requireFiniteScores(scorer.name, head.head ?? 0, scorer.score(head, options)), length: n - apart });
  }
  // the store's block size when the plan is for one (so shares are whole blocks of it), else the method's
  const methodBlockSize = typeof options.blockSize === 'number' ? options.blockSize : 1;
  const blockSize = (setup.blockSize ?? 1) > 1 ? setup.blockSize! : methodBlockSize;
  const { evicted } = jointEviction(heads, { target, blockSize });
  return Array.from({ length: geometry.layers }, (_, layer) =>
    Int32Array.from({ length: geometry.kvHeads }, (_, h) => {
      const share = n - window - evicted[layer * geometry.kvHeads + h]!.length;
      return apart > 0 ? fitBesideWindow(share, window, blockSize) : share;
    }),
  );
}

/**
 * The budget, window and layer budgets of a request for a prompt of `n` tokens (`skipped` with the
 * reason for a scoring method and a prompt no longer than its window). Shared by planning from
 * observations and from a store (a prompt prefilled in chunks).
 */
export function setupForPrompt(
  method: Method,
  options: MethodOptions,
  geometry: CacheGeometry,
  n: number,
  observations: readonly LayerObservation[],
  budgetSpec: BudgetSpec,
): PlanSetup {
  if (method.scorer !== null) {
    // a token budget that cannot hold the window is the caller's mistake whatever the prompt: refused
    // before the prompt length is looked at, so the same settings fail on short and long prompts alike
    if (!isRatioBudget(budgetSpec)) requireWindowFits(resolveBudget(budgetSpec, n), options.window);
    if (n <= options.window) {
      return {
        method,
        options,
        geometry,
        observations,
        n,
        budget: resolveBudget(budgetSpec, n),
        window: n,
        schedule: new Int32Array(geometry.layers),
        skipped: `the prompt (${n} tokens) is not longer than the observation window (${options.window})`,
      };
    }
  }
  const budget = resolveBudget(budgetSpec, n);
  const window = Math.min(options.window, n);
  if (method.scorer !== null) requireWindowFits(budget, window);
  const selectable = budget - window;
  const schedule =
    method.schedule === 'pyramid'
      ? pyramidLayerBudgets(selectable, geometry.layers, n - window, options.beta)
      : uniformLayerBudgets(selectable, geometry.layers);
  return { method, options, geometry, observations, n, budget, window, schedule };
}

/**
 * The scorer's view of every KV head of `layer` right after prefill: keys, queries, positions, the
 * layer and head, the values and W_o columns when the scorer reads them (and the request gave W_o),
 * and a joint allocation's share.
 */
export function layerHeads(setup: PlanSetup, layer: number): HeadContext[] {
  const { geometry, observations, window, method, outputProjection, jointKeep } = setup;
  const wo = outputProjection && readsOutputProjection(method.scorer) ? outputProjection(layer) : undefined;
  const values = readsValues(method.scorer);
  return Array.from({ length: geometry.kvHeads }, (_, h) => ({
    ...observationHeadContext(geometry, observations[layer]!, h, window),
    layer,
    ...(values ? { values: observationHeadValues(geometry, observations[layer]!, h) } : {}),
    ...(wo ? { outputProjection: headOutputProjection(geometry, wo, h) } : {}),
    ...(jointKeep?.[layer] ? { jointKeep: jointKeep[layer]![h]! } : {}),
  }));
}

/** A plan that keeps every entry of a prompt of `n` tokens in every (layer, KV head). */
export function keepEverythingPlan(geometry: CacheGeometry, n: number, label: { method: string; budget: number; window: number }): CompressionPlan {
  const all = (): Int32Array => Int32Array.from({ length: n }, (_, t) => t);
  const layers = Array.from({ length: geometry.layers }, () => ({
    kept: Array.from({ length: geometry.kvHeads }, all),
    budgetPerHead: new Int32Array(geometry.kvHeads).fill(n),
  }));
  const total = geometry.layers * geometry.kvHeads * n;
  return { ...label, layers, requestedTotal: total, achievedTotal: total, originalTotal: total };
}

/** The plan of a skipped setup: every entry of every (layer, KV head) kept, with the reason. */
export function skippedPlan(setup: PlanSetup & { readonly skipped: string }): CompressionPlan {
  const { geometry, n, method, budget, window, skipped } = setup;
  return { ...keepEverythingPlan(geometry, n, { method: method.name, budget, window }), skipped };
}

/** Whether the setup plans nothing (see {@link PlanSetup.skipped}). */
export const isSkipped = (setup: PlanSetup): setup is PlanSetup & { readonly skipped: string } => setup.skipped !== undefined;

/** The plan from its layers, with the totals asked for and achieved. */
export function finishPlan(setup: PlanSetup, layers: LayerPlan[]): CompressionPlan {
  if (isSkipped(setup)) return skippedPlan(setup);
  const { method, geometry, n, budget, window, schedule } = setup;
  const perHead = (selectableInLayer: number): number => (method.scorer === null ? n : Math.min(n, selectableInLayer + window));
  return {
    method: method.name,
    budget,
    window,
    layers,
    requestedTotal: geometry.kvHeads * Array.from(schedule).reduce((sum, s) => sum + perHead(s), 0),
    achievedTotal: layers.reduce((sum, l) => sum + l.kept.reduce((s, k) => s + k.length, 0), 0),
    originalTotal: geometry.layers * geometry.kvHeads * n,
  };
}

/**
 * Decides which prompt entries each (layer, KV head) keeps after prefill. Pure: the store is not
 * touched; pass the plan to {@link applyPlan}. The observation window (the last `window` tokens) is
 * always kept, and nothing is evicted when the budget covers the prompt.
 *
 * A prompt no longer than the observation window of a scoring method (every method but `full`) leaves
 * nothing to score: the plan keeps everything and says why in {@link CompressionPlan.skipped}; it is
 * not an error. A token budget below the window is a {@link BudgetError} for every prompt length (a
 * ratio budget, which depends on the prompt, only for prompts longer than the window).
 */
export function planCompression<M extends MethodName | Method>(input: PlanInput<M>): CompressionPlan {
  const setup = preparePlan(input);
  if (isSkipped(setup)) return skippedPlan(setup);
  const layers = setup.observations.map((_, layer) => planLayer(setup.method, setup.options, layerHeads(setup, layer), setup.schedule[layer]!, alignmentOf(setup)));
  return finishPlan(setup, layers);
}

/** Evicts from `store` every entry the plan does not keep. */
export function applyPlan(store: KvStore, plan: CompressionPlan): void {
  const { layers, kvHeads } = store.geometry;
  if (plan.layers.length !== layers || plan.layers.some((l) => l.kept.length !== kvHeads)) {
    throw new ShapeError(`The plan is for ${plan.layers.length} layers and a different head count than the store (${layers} x ${kvHeads}).`);
  }
  plan.layers.forEach((layerPlan, layer) => {
    const unchanged = layerPlan.kept.every((k, h) => k.length === store.length(layer, h));
    if (!unchanged) store.compact(layer, layerPlan.kept);
  });
}

/** Plans and applies compression right after prefill (for `Generator`'s `afterPrefill`). */
export function compress<M extends MethodName | Method>(
  store: KvStore,
  observations: readonly LayerObservation[],
  request: CompressionRequest<M>,
): CompressionPlan {
  const plan = planCompression<M>({ ...request, geometry: store.geometry, observations });
  applyPlan(store, plan);
  return plan;
}
