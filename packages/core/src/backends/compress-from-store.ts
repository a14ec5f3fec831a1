import type { CompressionPlan, LayerPlan } from '../compression-plan.js';
import { OptionError } from '../errors.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { Method } from '../methods/types.js';
import { type CompressionRequest, type PlanSetup, finishPlan, isSkipped, setupForPrompt, skippedPlan } from '../plan.js';
import type { KvStore } from '../store.js';
import type { Backend } from './backend.js';

/** The prompt length of a store that holds positions `0 .. n-1` in every (layer, KV head), as a prefill leaves it. */
export function promptLength(store: KvStore): number {
  const { layers, kvHeads } = store.geometry;
  const n = store.length(0, 0);
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < kvHeads; head++) {
      const positions = store.positions(layer, head);
      if (positions.length !== n || (n > 0 && positions[n - 1] !== n - 1)) {
        throw new OptionError('compress: the store must hold the whole prompt (positions 0 .. n-1 in every head), as prefill leaves it; it was changed since.');
      }
    }
  }
  return n;
}

/** A prompt's method, options, length and setup, for compressing it from the store. */
export interface StoreSetup {
  readonly method: Method;
  readonly options: ReturnType<typeof resolveMethodOptions>;
  readonly n: number;
  readonly setup: PlanSetup;
}

/**
 * What compressing a chunked prompt from its store starts with: the method and its options, the prompt
 * length and the prompt's setup; or the skipped plan when the prompt is too short to compress. Refuses a
 * store that recorded fewer of the prompt's last query rows than the window its scorer reads.
 */
export async function setupFromStore(store: KvStore, request: CompressionRequest): Promise<StoreSetup | { readonly skipped: CompressionPlan }> {
  const method: Method = typeof request.method === 'string' ? getMethod(request.method) : request.method;
  const options = resolveMethodOptions(method, request.options);
  const n = promptLength(store);
  const setup = setupForPrompt(method, options, store.geometry, n, [], request.budget);
  if (isSkipped(setup)) return { skipped: skippedPlan(setup) };
  if (method.scorer !== null) {
    const recorded = (await store.recentQueries(0)).positions;
    if (recorded.length < setup.window || recorded[recorded.length - 1] !== n - 1) {
      throw new OptionError(
        `compress: the store recorded ${recorded.length} of the prompt's last query rows, fewer than the observation window (${setup.window}); ` +
          'record at least that many (the Generator\'s promptQueryRows) before a chunked prefill.',
      );
    }
  }
  return { method, options, n, setup };
}

/**
 * Compression right after a prompt prefilled in chunks, planned from the store instead of
 * observations: the queries the store recorded as the prompt passed (its last rows, at least the
 * observation window) score every stored entry, layer by layer where the data lives
 * (`backend.evictLayer`), each layer down to its layer budget. For the window-scoring methods the
 * plan equals the one from observations; H2O sums over the recorded rows only.
 */
export async function compressFromStore(store: KvStore, request: CompressionRequest, evictLayer: Backend['evictLayer']): Promise<CompressionPlan> {
  const prepared = await setupFromStore(store, request);
  if ('skipped' in prepared) return prepared.skipped;
  const { method, options, setup } = prepared;
  const { layers, kvHeads } = store.geometry;
  const plans: LayerPlan[] = [];
  for (let layer = 0; layer < layers; layer++) {
    if (method.scorer !== null) await evictLayer(store, layer, { method, options, tokensPerHead: setup.window + setup.schedule[layer]! });
    // the prompt's positions are its indices: what each head still holds is what it kept
    const kept = Array.from({ length: kvHeads }, (_, head) => store.positions(layer, head));
    plans.push({ kept, budgetPerHead: Int32Array.from(kept, (k) => k.length) });
  }
  return finishPlan(setup, plans);
}
