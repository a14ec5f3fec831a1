import { type GpuContext, GpuError, GpuPagedCache, requestGpu } from '@adakv/gpu';
import { AdakvError, ShapeError } from '../errors.js';
import { type CacheGeometry, validateGeometry } from '../geometry.js';
import type { KvStore } from '../store.js';
import { checkAppend, checkAttend, checkHead, checkPlan } from './store-validation.js';

export interface WebGpuStoreOptions {
  /** A device to share between stores (one per page or process is plenty); requested when omitted. */
  gpu?: GpuContext;
  /** Tokens per block (default 16). */
  blockSize?: number;
  /**
   * K/V storage: `f32` (default, equal to the CPU stores within 1e-5), `f16` (half the GPU memory and
   * attention bandwidth, about 1e-3 relative error), or `auto`: f16 where the adapter offers
   * `shader-f16`, else f32.
   */
  kvFormat?: 'f32' | 'f16' | 'auto';
  /**
   * Most bytes one layer's keys (and as many values) may take on the GPU: a memory cap per sequence,
   * the device's largest storage buffer by default; past it, appends fail with DEVICE_OUT_OF_MEMORY.
   */
  maxLayerBytes?: number;
}

/** GPU errors as the SDK's typed errors (same codes). */
function translated<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw toCoreError(error);
  }
}

export function toCoreError(error: unknown): unknown {
  if (!(error instanceof GpuError)) return error;
  if (error.code === 'INVALID_ARGUMENT') return new ShapeError(error.message);
  return new AdakvError(error.code, error.message, { cause: error });
}

/**
 * One sequence's KV cache on the GPU: paged blocks per (layer, KV head) in WebGPU buffers, appended
 * and compacted by kernels, read by flash-decoding attention. Runs wherever WebGPU does: browsers, and
 * Node through the optional `webgpu` package (Dawn; SwiftShader on machines without a GPU).
 */
export class WebGpuStore implements KvStore {
  readonly geometry: CacheGeometry;

  private constructor(
    geometry: CacheGeometry,
    /** The GPU-side cache, for a forward pass that stays on the GPU. */
    readonly cache: GpuPagedCache,
  ) {
    this.geometry = geometry;
  }

  static async create(geometry: CacheGeometry, options: WebGpuStoreOptions = {}): Promise<WebGpuStore> {
    validateGeometry(geometry);
    try {
      const gpu = options.gpu ?? (await requestGpu());
      return new WebGpuStore(geometry, new GpuPagedCache(gpu, { ...geometry, blockSize: options.blockSize, kvFormat: options.kvFormat, maxLayerBytes: options.maxLayerBytes }));
    } catch (error) {
      throw toCoreError(error);
    }
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

  bytes(): number {
    return this.cache.bytes();
  }

  dispose(): void {
    this.cache.destroy();
  }
}
