import { GpuError, GpuMixedCache, type GpuPagedCache } from '@adakv/gpu';
import { AdakvError, PoolExhaustedError, ShapeError } from '../../errors.js';
import type { CacheGeometry } from '../../geometry.js';
import type { KvFormat } from '../kv-format.js';
import type { KvStore, RecentQueries } from '../../store.js';
import { checkAppend, checkAttend, checkHead, checkPlan } from '../store-checks.js';
import { translating } from '../translate-errors.js';

export function toCoreError(error: unknown): unknown {
  if (!(error instanceof GpuError)) return error;
  if (error.code === 'INVALID_ARGUMENT') return new ShapeError(error.message);
  if ((error.code as string) === 'POOL_EXHAUSTED') return new PoolExhaustedError(error.message, { cause: error });
  return new AdakvError(error.code, error.message, { cause: error });
}

/**
 * One sequence's KV cache on the GPU: paged blocks per (layer, KV head) in WebGPU buffers, appended
 * and compacted by kernels, read by flash-decoding attention. Runs wherever WebGPU does: browsers, and
 * Node through the optional `webgpu` package (Dawn; SwiftShader on machines without a GPU).
 */
export class WebGpuStore implements KvStore {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;

  /** @internal Made by the webgpu backend's `createStore` or pool. */
  constructor(
    geometry: CacheGeometry,
    /** The GPU-side cache, for a forward pass that stays on the GPU: one format, or a format per head. */
    readonly cache: GpuPagedCache | GpuMixedCache,
  ) {
    this.geometry = geometry;
  }

  /** The format (`layer`, `head`) stores its K/V in (the store's, or its own: `StoreOptions.kvFormats`). */
  kvFormat(layer: number, head: number): KvFormat {
    checkHead(this.geometry, layer, head);
    const { cache } = this;
    return cache instanceof GpuMixedCache ? translated(() => cache.kvFormat(layer, head)) : cache.kvFormat;
  }

  length(layer: number, head: number): number {
    checkHead(this.geometry, layer, head);
    return translated(() => this.cache.length(layer, head));
  }

  positions(layer: number, head: number): Int32Array {
    checkHead(this.geometry, layer, head);
    return translated(() => this.cache.positions(layer, head));
  }

  async keys(layer: number, head: number): Promise<Float32Array> {
    checkHead(this.geometry, layer, head);
    return this.cache.rows(layer, head, 'keys').catch((error: unknown) => Promise.reject(toCoreError(error)));
  }

  async values(layer: number, head: number): Promise<Float32Array> {
    checkHead(this.geometry, layer, head);
    return this.cache.rows(layer, head, 'values').catch((error: unknown) => Promise.reject(toCoreError(error)));
  }

  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    checkAppend(this.geometry, layer, keys, values, positions);
    translated(() => this.cache.append(layer, keys, values, positions));
  }

  compact(layer: number, kept: readonly Int32Array[]): void {
    checkPlan(this.geometry, layer, kept, (head) => this.length(layer, head));
    translated(() => this.cache.compact(layer, kept));
  }

  async attend(layer: number, queries: Float32Array, out: Float32Array): Promise<void> {
    checkAttend(this.geometry, layer, queries, out);
    out.set(await this.cache.attend(layer, queries).catch((error: unknown) => Promise.reject(toCoreError(error))));
  }

  /** Recorded on the GPU (a ring per layer), by every decode attention, the GPU forward pass's included. */
  recordQueries(rows: number): void {
    translated(() => this.cache.recordQueries(rows));
  }

  seedQueries(layer: number, queries: Float32Array, positions: Int32Array): void {
    checkHead(this.geometry, layer, 0);
    translated(() => this.cache.seedQueries(layer, queries, positions));
  }

  async recentQueries(layer: number): Promise<RecentQueries> {
    checkHead(this.geometry, layer, 0);
    return this.cache.recentQueries(layer).catch((error: unknown) => Promise.reject(toCoreError(error)));
  }

  bytes(): number {
    return this.cache.bytes();
  }

  dispose(): void {
    this.cache.destroy();
  }
}

/** Runs a GPU call, its errors turned into the SDK's typed errors (same codes). */
export const translated = translating(toCoreError);
