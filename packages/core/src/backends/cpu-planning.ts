import { planLayer, requireFiniteScores } from '../allocation/plan-layer.js';
import type { CompressionPlan } from '../compression-plan.js';
import { OptionError } from '../errors.js';
import { groupSize } from '../geometry.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { Method } from '../methods/types.js';
import type { LayerObservation } from '../model/observation.js';
import { type CompressionRequest, type PlanInput, applyPlan, planCompression } from '../plan.js';
import {
  type OutputProjection,
  headOutputProjection,
  missingOutputProjection,
  readsOutputProjection,
  readsValues,
} from '../scorers/output-projection.js';
import type { HeadContext } from '../scorers/types.js';
import type { KvStore } from '../store.js';
import type { LayerEviction, LayerScoring } from './backend.js';
import { compressFromStore } from './compress-from-store.js';
import { type ScoreLayer, compressJointlyFromStore } from '../decode/joint-eviction.js';

/** Planning on the CPU (the reference and WASM backends): {@link planCompression}, as a promise. */
export async function planOnCpu(input: PlanInput): Promise<CompressionPlan> {
  return planCompression(input);
}

/** Plans on the CPU and applies the plan to `store` (from the store itself when `observations` is empty: a chunked prompt). */
export async function compressOnCpu(store: KvStore, observations: readonly LayerObservation[], request: CompressionRequest): Promise<CompressionPlan> {
  if (observations.length === 0) return compressStoreWith(store, request, evictLayerOnCpu, scoreLayerOnCpu);
  const plan = planCompression({ ...request, geometry: store.geometry, observations });
  applyPlan(store, plan);
  return plan;
}

/**
 * Compression of a prompt prefilled in chunks, planned from the store: a joint method (KV-Compress,
 * random) scores every layer and evicts across them; the others go layer by layer through `evictLayer`
 * (the request's output projection handed on).
 */
export function compressStoreWith(
  store: KvStore,
  request: CompressionRequest,
  evictLayer: (store: KvStore, layer: number, eviction: LayerEviction) => Promise<number>,
  scoreLayer: ScoreLayer,
): Promise<CompressionPlan> {
  const method = typeof request.method === 'string' ? getMethod(request.method) : request.method;
  if (method.allocation === 'joint') return compressJointlyFromStore(store, request, scoreLayer);
  const { outputProjection } = request;
  return compressFromStore(store, request, (s, layer, eviction) => evictLayer(s, layer, outputProjection ? { ...eviction, outputProjection } : eviction));
}

/** What {@link storeHeadContexts} builds the heads' views with. */
interface StoreScoring {
  readonly method: Method;
  readonly protectedCount: number;
  readonly queriesAfter?: number | undefined;
  readonly outputProjection?: OutputProjection | undefined;
}

/**
 * The scorer's view of every KV head of `layer` of a store: keys, positions, the recorded queries
 * (those after `queriesAfter`), the layer and head, and the values and W_o columns when the method's
 * scorer reads them.
 */
async function storeHeadContexts(store: KvStore, layer: number, scoring: StoreScoring): Promise<HeadContext[]> {
  const { method, protectedCount, queriesAfter, outputProjection } = scoring;
  const { geometry } = store;
  const { kvHeads, headDim } = geometry;
  const g = groupSize(geometry);
  const recent = await store.recentQueries(layer);
  const rowSize = kvHeads * g * headDim;
  const first = queriesAfter === undefined ? 0 : recent.positions.findIndex((p) => p > queriesAfter);
  const from = first < 0 ? recent.positions.length : first;
  const rows = recent.positions.length - from;
  const queryPositions = recent.positions.slice(from);
  const wo = outputProjection && readsOutputProjection(method.scorer) ? outputProjection(layer) : undefined;
  const heads: HeadContext[] = [];
  for (let h = 0; h < kvHeads; h++) {
    const queries = new Float32Array(rows * g * headDim);
    for (let r = 0; r < rows; r++) {
      const row = recent.queries.subarray((from + r) * rowSize, (from + r + 1) * rowSize);
      queries.set(row.subarray(h * g * headDim, (h + 1) * g * headDim), r * g * headDim);
    }
    const positions = store.positions(layer, h);
    heads.push({
      keys: await store.keys(layer, h),
      positions,
      queries,
      queryPositions,
      headDim,
      groupSize: g,
      protectedCount: Math.min(protectedCount, positions.length),
      layer,
      head: h,
      ...(readsValues(method.scorer) ? { values: await store.values(layer, h) } : {}),
      ...(wo ? { outputProjection: headOutputProjection(geometry, wo, h) } : {}),
    });
  }
  return heads;
}

/**
 * Decode-time eviction of one layer on the CPU: each head's keys and the store's recorded queries
 * make the scorer's view, the method's allocation splits `tokensPerHead` across the heads, and the
 * store compacts. The `window` most recent entries of every head are kept.
 */
export async function evictLayerOnCpu(store: KvStore, layer: number, eviction: LayerEviction): Promise<number> {
  const method = typeof eviction.method === 'string' ? getMethod(eviction.method) : eviction.method;
  if (method.scorer === null) throw new OptionError(`Decode-time eviction needs a method that scores entries; "${method.name}" keeps everything.`);
  const options = resolveMethodOptions(method, eviction.options);
  const heads = await storeHeadContexts(store, layer, { method, protectedCount: options.window, outputProjection: eviction.outputProjection });
  const before = heads.reduce((sum, head) => sum + head.positions.length, 0);
  const plan = planLayer(method, options, heads, eviction.tokensPerHead - options.window);
  if (plan.kept.every((kept, h) => kept.length === heads[h]!.positions.length)) return 0;
  store.compact(layer, plan.kept);
  return before - plan.kept.reduce((sum, kept) => sum + kept.length, 0);
}

/**
 * Scores every entry of every KV head of `layer` on the CPU (see `Backend.scoreLayer`): the scorer
 * sees the store's keys (values, W_o columns when it reads them) and the recorded query rows after
 * `queriesAfter`, with nothing protected.
 */
export async function scoreLayerOnCpu(store: KvStore, layer: number, scoring: LayerScoring): Promise<Float32Array[]> {
  const method: Method = typeof scoring.method === 'string' ? getMethod(scoring.method) : scoring.method;
  if (method.scorer === null) throw new OptionError(`Scoring needs a method that scores entries; "${method.name}" keeps everything.`);
  const scorer = method.scorer;
  const options = resolveMethodOptions(method, scoring.options);
  if (readsOutputProjection(scorer) && !scoring.outputProjection) throw missingOutputProjection(method.name);
  const heads = await storeHeadContexts(store, layer, { method, protectedCount: 0, queriesAfter: scoring.queriesAfter, outputProjection: scoring.outputProjection });
  return heads.map((head, h) => requireFiniteScores(scorer.name, h, scorer.score(head, options)));
}
