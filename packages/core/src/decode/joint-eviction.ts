import { type JointEvictionResult, type JointHead, jointEviction } from '../allocation/joint.js';
import type { CompressionPlan, LayerPlan } from '../compression-plan.js';
import { type CompressionRequest, finishPlan } from '../plan.js';
import type { KvStore } from '../store.js';
import type { LayerScoring } from '../backends/backend.js';
import { setupFromStore } from '../backends/compress-from-store.js';

/** Scores every entry of one layer where the store lives (a backend's `scoreLayer`). */
export type ScoreLayer = (store: KvStore, layer: number, scoring: LayerScoring) => Promise<Float32Array[]>;

/**
 * The joint eviction's view of a store: one {@link JointHead} per (layer, KV head), layer-major, each
 * with the metrics of its entries before its protected recent `window` (`metrics[layer][head]` holds
 * one metric per entry, the window's included).
 */
export function storeJointHeads(store: KvStore, metrics: readonly (readonly ArrayLike<number>[])[], window: number): JointHead[] {
  const { layers, kvHeads } = store.geometry;
  const heads: JointHead[] = [];
  for (let layer = 0; layer < layers; layer++) {
    for (let h = 0; h < kvHeads; h++) {
      const length = store.length(layer, h);
      const evictable = Math.max(0, length - window);
      const all = metrics[layer]![h]!;
      heads.push({ scores: Array.prototype.slice.call(all, 0, evictable) as number[], length });
    }
  }
  return heads;
}

/** Compacts every layer of `store` that a {@link jointEviction} took entries from (heads layer-major). */
export function applyJointEviction(store: KvStore, result: JointEvictionResult): void {
  const { layers, kvHeads } = store.geometry;
  for (let layer = 0; layer < layers; layer++) {
    const evicted = result.evicted.slice(layer * kvHeads, (layer + 1) * kvHeads);
    if (evicted.every((e) => e.length === 0)) continue;
    const kept = evicted.map((gone, h) => {
      const length = store.length(layer, h);
      const out = new Int32Array(length - gone.length);
      let g = 0;
      let k = 0;
      for (let t = 0; t < length; t++) {
        if (g < gone.length && gone[g] === t) g++;
        else out[k++] = t;
      }
      return out;
    });
    store.compact(layer, kept);
  }
}

/**
 * Compression of a prompt prefilled in chunks (no observations) for a method whose allocation is
 * `joint` (KV-Compress, random): every layer scored where the store lives from the query rows it
 * recorded as the prompt passed (the scorer reads the last `window`), one sort across the sequence,
 * whole blocks, compacted. The plan reports what each head kept.
 */
export async function compressJointlyFromStore(store: KvStore, request: CompressionRequest, scoreLayer: ScoreLayer): Promise<CompressionPlan> {
  const prepared = await setupFromStore(store, request);
  if ('skipped' in prepared) return prepared.skipped;
  const { method, options, n, setup } = prepared;
  const { layers, kvHeads } = store.geometry;
  const metrics: Float32Array[][] = [];
  let target = 0;
  for (let layer = 0; layer < layers; layer++) {
    metrics.push(await scoreLayer(store, layer, { method, options, ...(request.outputProjection ? { outputProjection: request.outputProjection } : {}) }));
    target += kvHeads * Math.min(n, setup.window + setup.schedule[layer]!);
  }
  const blockSize = typeof options.blockSize === 'number' ? options.blockSize : 1;
  applyJointEviction(store, jointEviction(storeJointHeads(store, metrics, setup.window), { target, blockSize }));
  const plans: LayerPlan[] = [];
  for (let layer = 0; layer < layers; layer++) {
    // the prompt's positions are its indices: what each head still holds is what it kept
    const kept = Array.from({ length: kvHeads }, (_, head) => store.positions(layer, head));
    plans.push({ kept, budgetPerHead: Int32Array.from(kept, (k) => k.length) });
  }
  return finishPlan(setup, plans);
}
