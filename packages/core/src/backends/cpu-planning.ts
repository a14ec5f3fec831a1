import { planLayer } from '../allocation/plan-layer.js';
import type { CompressionPlan } from '../compression-plan.js';
import { OptionError } from '../errors.js';
import { groupSize } from '../geometry.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { LayerObservation } from '../model/observation.js';
import { type CompressionRequest, type PlanInput, applyPlan, planCompression } from '../plan.js';
import type { HeadContext } from '../scorers/types.js';
import type { KvStore } from '../store.js';
import type { LayerEviction } from './backend.js';
import { compressFromStore } from './compress-from-store.js';

/** Planning on the CPU (the reference and WASM backends): {@link planCompression}, as a promise. */
export async function planOnCpu(input: PlanInput): Promise<CompressionPlan> {
  return planCompression(input);
}

/** Plans on the CPU and applies the plan to `store` (from the store itself when `observations` is empty: a chunked prompt). */
export async function compressOnCpu(store: KvStore, observations: readonly LayerObservation[], request: CompressionRequest): Promise<CompressionPlan> {
  if (observations.length === 0) return compressFromStore(store, request, evictLayerOnCpu);
  const plan = planCompression({ ...request, geometry: store.geometry, observations });
  applyPlan(store, plan);
  return plan;
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
  const { kvHeads, headDim } = store.geometry;
  const g = groupSize(store.geometry);
  const recent = await store.recentQueries(layer);
  const rows = recent.positions.length;
  const heads: HeadContext[] = [];
  let before = 0;
  for (let h = 0; h < kvHeads; h++) {
    const queries = new Float32Array(rows * g * headDim);
    for (let r = 0; r < rows; r++) {
      const row = recent.queries.subarray(r * kvHeads * g * headDim, (r + 1) * kvHeads * g * headDim);
      queries.set(row.subarray(h * g * headDim, (h + 1) * g * headDim), r * g * headDim);
    }
    const positions = store.positions(layer, h);
    before += positions.length;
    heads.push({
      keys: await store.keys(layer, h),
      positions,
      queries,
      queryPositions: recent.positions,
      headDim,
      groupSize: g,
      protectedCount: Math.min(options.window, positions.length),
    });
  }
  const plan = planLayer(method, options, heads, eviction.tokensPerHead - options.window);
  if (plan.kept.every((kept, h) => kept.length === heads[h]!.positions.length)) return 0;
  store.compact(layer, plan.kept);
  return before - plan.kept.reduce((sum, kept) => sum + kept.length, 0);
}
