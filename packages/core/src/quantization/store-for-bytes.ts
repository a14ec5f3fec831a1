import type { Backend } from '../backends/backend.js';
import type { KvFormat } from '../backends/kv-format.js';
import type { MethodName, MethodOptions } from '../methods/registry.js';
import type { LayerObservation } from '../model/observation.js';
import type { OutputProjection } from '../scorers/output-projection.js';
import type { KvStore } from '../store.js';
import { type ByteFraction, type BytePlan, type DEFAULT_BYTE_METHOD, planForBytes } from './plan-for-bytes.js';
import { readHeadKv, storeKeptRows } from './store-kept-rows.js';

/** One byte budget for a sequence's K/V: the planner chooses the format and the entries per head. */
export interface KvByteBudget {
  /** Bytes for the sequence's K+V over all layers and KV heads, or `{ fraction }` of the prompt's full f32 cache. */
  readonly bytes: number | ByteFraction;
  /** The eviction method (default `'kvcompress'`, {@link DEFAULT_BYTE_METHOD}). */
  readonly method?: MethodName;
  /** Method option overrides (`window` is the protected recent window, always kept). */
  readonly options?: Partial<MethodOptions>;
  /** Formats to choose from (default every one the backend stores). */
  readonly formats?: readonly KvFormat[];
  /**
   * Whether heads may differ in format (default: where the backend's stores allow it,
   * `backend.mixedKvFormats`; false plans one format for the sequence, the same plan on every backend).
   */
  readonly mixedFormats?: boolean;
  /**
   * Keep the protected window in f32 (default false; see `planForBytes`): int8/int4 heads hold it in
   * their residual block, counted in the budget. The window must be shorter than the store's blocks.
   */
  readonly fullPrecisionWindow?: boolean;
}

/** What {@link storeForBytes} returns. */
export interface StoreForBytes {
  /** The store holding the plan's entries in its format (the full store itself when the plan keeps everything in f32). */
  readonly store: KvStore;
  /** The format and entries chosen, and every format considered. */
  readonly plan: BytePlan;
}

/**
 * After prefill into a full f32 `store`: plans `budget` ({@link planForBytes}; a format per layer and
 * KV head where the backend's stores take one, `backend.mixedKvFormats`), builds a store in the
 * chosen formats holding only the kept entries, each block encoded once over its rows
 * ({@link storeKeptRows}), and disposes the full store. Returns the new store and the plan.
 */
export async function storeForBytes(
  backend: Backend,
  store: KvStore,
  observations: readonly LayerObservation[],
  budget: KvByteBudget,
  outputProjection?: OutputProjection,
): Promise<StoreForBytes> {
  const { geometry } = store;
  const plan = planForBytes({
    geometry,
    observations,
    bytes: budget.bytes,
    blockSize: backend.storeBlockSize,
    blockBytes: (format) => backend.blockBytes(format, geometry.headDim),
    formats: budget.formats ?? backend.kvFormats,
    mixedFormats: backend.mixedKvFormats && budget.mixedFormats !== false,
    ...(budget.fullPrecisionWindow ? { fullPrecisionWindow: true } : {}),
    ...(budget.method ? { method: budget.method } : {}),
    ...(budget.options ? { options: budget.options } : {}),
    ...(outputProjection ? { outputProjection } : {}),
  });
  const n = store.length(0, 0);
  const everything = plan.plan.layers.every((layer) => layer.kept.every((k) => k.length === n));
  if (plan.format === 'f32' && everything) return { store, plan }; // the full store is the plan
  const kept = backend.createStore(geometry, { kvFormats: plan.headFormats });
  try {
    for (let layer = 0; layer < geometry.layers; layer++) {
      storeKeptRows(kept, layer, await readHeadKv(store, layer), plan.plan.layers[layer]!.kept, backend.storeBlockSize, plan.windowRows);
    }
  } catch (error) {
    kept.dispose();
    throw error;
  }
  store.dispose();
  return { store: kept, plan };
}
