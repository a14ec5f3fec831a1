import { Dispatcher, type GpuContext, adaptiveCounts, selectTopK, windowScores } from '@adakv/gpu';
import { safeguardCaps } from '../../allocation/adaptive.js';
import { type HeadExtent, keepAllPlan, planLayer, requireFiniteScores, withProtectedTails } from '../../allocation/plan-layer.js';
import { uniformAllocation } from '../../allocation/uniform.js';
import type { CompressionPlan, LayerPlan } from '../../compression-plan.js';
import { type PlanInput, type PlanSetup, alignmentOf, finishPlan, layerHeads, preparePlan, skippedPlan } from '../../plan.js';
import { snapkvScorer } from '../../scorers/snapkv.js';
import { toCoreError } from './webgpu-store.js';

/** The radix-select counts kernel ranks up to 256 heads in one workgroup. */
const MAX_GPU_HEADS = 256;

/** One layer planned on the GPU: SnapKV window scores, Ada-KV counts (or uniform caps), top-k selection. */
async function planLayerOnGpu(d: Dispatcher, setup: PlanSetup, layer: number): Promise<LayerPlan> {
  const { method, options, geometry, observations, window } = setup;
  // every head holds the whole prompt right after prefill; the scores come from the kernels
  const positions = Int32Array.from({ length: setup.n }, (_, t) => t);
  const heads: HeadExtent[] = Array.from({ length: geometry.kvHeads }, () => ({ positions, protectedCount: window }));
  const selectable = setup.schedule[layer]!;
  const all = keepAllPlan(method, heads, selectable);
  if (all) return all;
  const { keys, queries } = observations[layer]!;
  const flat = await windowScores(d, keys, queries, { ...geometry, window, kernelSize: options.kernelSize, pooling: options.pooling, groupReduce: options.groupReduce });
  const prefix = setup.n - window;
  const scores = heads.map((_, h) => requireFiniteScores(snapkvScorer.name, h, flat.subarray(h * prefix, (h + 1) * prefix)));
  const caps =
    method.allocation === 'adaptive'
      ? safeguardCaps(await adaptiveCounts(d, flat, heads.length, heads.length * selectable), scores.map((row) => row.length), selectable, options.alpha)
      : uniformAllocation(scores, selectable);
  return withProtectedTails(heads, await selectTopK(d, scores, caps));
}

/**
 * {@link planCompression} with the work on the GPU for methods that score with SnapKV's observation
 * window (snapkv, pyramidkv and their Ada-KV wrappers): window attention, GQA reduce and pooling,
 * the Ada-KV counts by radix select, and per-head top-k selection run as kernels; only the per-head
 * safeguard (a few numbers) runs on the CPU. Other scorers plan on the CPU. The ordering and tie
 * rules are the CPU's; the scores agree with the CPU's within f32 rounding (1e-4 relative), so an
 * entry whose score is that close to the cut may be chosen differently. A prompt no longer than the
 * window gives the CPU planner's keep-everything plan with its `skipped` reason.
 */
export async function planCompressionOnGpu(input: PlanInput, gpu: GpuContext): Promise<CompressionPlan> {
  const setup = preparePlan(input);
  if (setup.skipped !== undefined) return skippedPlan({ ...setup, skipped: setup.skipped });
  const dispatcher = new Dispatcher(gpu);
  // whole-block rounding (`blockSize`) is planned on the CPU
  const onGpu = setup.method.scorer === snapkvScorer && setup.geometry.kvHeads <= MAX_GPU_HEADS && setup.blockSize === undefined;
  const layers: LayerPlan[] = [];
  try {
    for (let layer = 0; layer < setup.geometry.layers; layer++) {
      layers.push(onGpu ? await planLayerOnGpu(dispatcher, setup, layer) : planLayer(setup.method, setup.options, layerHeads(setup, layer), setup.schedule[layer]!, alignmentOf(setup)));
    }
  } catch (error) {
    throw toCoreError(error);
  }
  return finishPlan(setup, layers);
}
