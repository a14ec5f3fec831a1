import { Dispatcher, type GpuContext, type GpuKvFormat, GpuKvPool, GpuMixedCache, GpuPagedCache, gpuKvBlockBytes, requestGpu } from '@adakv/gpu';
import type { CompressionPlan } from '../../compression-plan.js';
import { OptionError } from '../../errors.js';
import { type CacheGeometry, validateGeometry } from '../../geometry.js';
import type { Model } from '../../model/model.js';
import type { LayerObservation } from '../../model/observation.js';
import { type CompressionRequest, type PlanInput, applyPlan } from '../../plan.js';
import type { KvStore } from '../../store.js';
import type { Backend, ForwardPass, KvPool, LayerEviction, LayerScoring } from '../backend.js';
import { compressStoreWith, evictLayerOnCpu, scoreLayerOnCpu } from '../cpu-planning.js';
import { getMethod } from '../../methods/registry.js';
import { resolveMethodOptions } from '../../methods/options.js';
import type { MethodOptions } from '../../methods/registry.js';
import { h2oScorer } from '../../scorers/h2o.js';
import { snapkvScorer } from '../../scorers/snapkv.js';
import { GpuForwardPass } from './forward-pass.js';
import { planCompressionOnGpu } from './plan.js';
import { WebGpuStore, toCoreError, translated } from './webgpu-store.js';
import { KV_FORMATS, type KvFormat, type StoreOptions, checkKvFormat, headFormatsOf, sharedFormat } from '../kv-format.js';

/** The device and the K/V storage of a {@link WebGpuBackend}. */
export interface WebGpuBackendOptions {
  /** A device to use (one per page or process is plenty); requested when omitted. */
  readonly gpu?: GpuContext;
  /** Tokens per block (default 16). */
  readonly blockSize?: number;
  /**
   * K/V storage: `f32` (default, equal to the CPU stores within 1e-5), `f16` (half the GPU memory and
   * attention bandwidth, about 1e-3 relative error), `int8` / `int4` (symmetric, keys one scale per
   * channel per block, values one per row / per 32 channels of a row, a head's partly filled last
   * block in f32 until it fills: the wasm backend's formats with its numerics, so the two stores hold
   * the same dequantized rows; int4 needs an even head dim), or `auto`: f16 where the adapter offers
   * `shader-f16`, else f32. A store's own `kvFormat` (`createStore`, `createPool`) overrides it.
   */
  readonly kvFormat?: GpuKvFormat | 'auto';
  /**
   * Most bytes one layer's keys (and as many values) of one sequence may take: a memory cap, the
   * device's largest storage buffer by default; past it, appends fail with DEVICE_OUT_OF_MEMORY.
   */
  readonly maxLayerBytes?: number;
}

/**
 * A fixed GPU pool as the scheduler sees it. Blocks are per layer on the GPU, so what is free is
 * counted as `layers x` the least free layer: the scheduler never promises a block a layer lacks.
 */
class WebGpuPool implements KvPool {
  constructor(
    readonly pool: GpuKvPool,
    private readonly geometry: CacheGeometry,
  ) {}

  get blockSize(): number {
    return this.pool.blockSize;
  }

  get blockBytes(): number {
    return this.pool.blockBytes;
  }

  get capacity(): number {
    return this.pool.stats().totalBlocks;
  }

  stats() {
    const { totalBlocks } = this.pool.stats();
    const leastFree = Math.min(...this.pool.layers.map((layer) => layer.free.length));
    const freeBlocks = leastFree * this.geometry.layers;
    return { totalBlocks, usedBlocks: totalBlocks - freeBlocks, freeBlocks };
  }

  createStore(): KvStore {
    return translated(() => new WebGpuStore(this.geometry, GpuPagedCache.inPool(this.pool)));
  }

  check(): void {
    translated(() => this.pool.check());
  }

  dispose(): void {
    this.pool.destroy();
  }
}

const key = (g: CacheGeometry) => `${g.layers}/${g.queryHeads}/${g.kvHeads}/${g.headDim}`;

/**
 * The WebGPU backend (browsers, and Node through Dawn): the whole forward pass as WGSL kernels, K/V
 * in paged GPU blocks, compression planned there (window scores, Ada-KV counts, top-k selection).
 */
export class WebGpuBackend implements Backend {
  /** Which backend this is. */
  readonly name = 'webgpu' as const;
  readonly description: string;
  /** K/V formats the WebGPU stores keep: all of the wasm backend's, with its numerics. */
  readonly kvFormats: readonly KvFormat[] = KV_FORMATS;
  /** A store may hold a format per layer and KV head (`StoreOptions.kvFormats`): a pool per format. */
  readonly mixedKvFormats = true;
  /** One growing pool per cache geometry for the stores `createStore` makes (so they can share a batch). */
  private readonly shared = new Map<string, GpuKvPool>();
  /** The command stream of the one-layer pools that stores with a format per head take their heads from. */
  private mixedDispatcher: Dispatcher | undefined;
  private readonly pools = new Set<GpuKvPool>();

  /** @param gpu The device everything runs on. */
  private constructor(
    readonly gpu: GpuContext,
    private readonly options: WebGpuBackendOptions,
    private readonly ownsDevice: boolean,
  ) {
    this.description = `WebGPU on ${gpu.adapterInfo}`;
  }

  /** Rows per block of the stores `createStore` makes. */
  get storeBlockSize(): number {
    return this.options.blockSize ?? 16; // GpuKvPool's default
  }

  blockBytes(format: KvFormat, headDim: number): number {
    return gpuKvBlockBytes(checkKvFormat(format, this.kvFormats, 'webgpu')!, this.storeBlockSize, headDim);
  }

  /**
   * Starts the backend on `options.gpu`, or on a device it requests (then it owns it and destroys it with
   * `dispose`).
   */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    try {
      return new WebGpuBackend(options.gpu ?? (await requestGpu()), options, options.gpu === undefined);
    } catch (error) {
      throw toCoreError(error);
    }
  }

  createStore(geometry: CacheGeometry, options: StoreOptions = {}): KvStore {
    validateGeometry(geometry);
    const formats = options.kvFormats === undefined ? undefined : headFormatsOf(geometry, options, this.kvFormats, 'webgpu');
    const kvFormat = formats === undefined ? checkKvFormat(options.kvFormat, this.kvFormats, 'webgpu') : sharedFormat(formats);
    if (formats !== undefined && kvFormat === undefined) return translated(() => new WebGpuStore(geometry, this.mixedCache(geometry, formats)));
    return translated(() => new WebGpuStore(geometry, GpuPagedCache.inPool(this.sharedPool(`${key(geometry)}/${kvFormat ?? 'default'}`, () => this.makePool(geometry, { kvFormat })))));
  }

  /** A cache whose heads differ in format: each layer's heads of a format in a one-layer pool, shared across stores. */
  private mixedCache(geometry: CacheGeometry, kvFormats: readonly (readonly KvFormat[])[]): GpuMixedCache {
    const dispatcher = (this.mixedDispatcher ??= new Dispatcher(this.gpu));
    return new GpuMixedCache(this.gpu, { ...geometry, kvFormats, blockSize: this.options.blockSize, maxLayerBytes: this.options.maxLayerBytes }, (kvHeads, queryHeads, kvFormat) => {
      const part = { layers: 1, queryHeads, kvHeads, headDim: geometry.headDim };
      return this.sharedPool(`${key(part)}/${kvFormat}/mixed`, () => this.makePool(part, { kvFormat, dispatcher }));
    });
  }

  /** The pool stores of `key` share, made on first use (or again once destroyed). */
  private sharedPool(key: string, make: () => GpuKvPool): GpuKvPool {
    let pool = this.shared.get(key);
    if (!pool || pool.isDestroyed) {
      pool = make();
      this.shared.set(key, pool);
    }
    return pool;
  }

  owns(store: KvStore): boolean {
    return store instanceof WebGpuStore && store.cache.dispatcher.gpu === this.gpu;
  }

  createPool(geometry: CacheGeometry, options: { blockSize?: number; poolBlocks?: number } & StoreOptions = {}): KvPool {
    validateGeometry(geometry);
    const kvFormat = checkKvFormat(options.kvFormat, this.kvFormats, 'webgpu');
    const { poolBlocks } = options;
    if (poolBlocks !== undefined && (!Number.isInteger(poolBlocks) || poolBlocks < geometry.layers)) {
      throw new OptionError(`poolBlocks must be a whole number of at least one block per layer (${geometry.layers}), got ${poolBlocks}.`);
    }
    // the GPU keeps one buffer per layer: a budget of poolBlocks over all layers is poolBlocks / layers per layer
    const perLayer = poolBlocks === undefined ? undefined : Math.floor(poolBlocks / geometry.layers);
    return new WebGpuPool(translated(() => this.makePool(geometry, { blockSize: options.blockSize, maxBlocks: perLayer, kvFormat })), geometry);
  }

  forwardPass(model: Model): ForwardPass {
    return new GpuForwardPass(model, this.gpu);
  }

  plan(input: PlanInput): Promise<CompressionPlan> {
    return planCompressionOnGpu(input, this.gpu);
  }

  async compress(store: KvStore, observations: readonly LayerObservation[], request: CompressionRequest): Promise<CompressionPlan> {
    if (observations.length === 0) return compressStoreWith(store, request, (s, layer, eviction) => this.evictLayer(s, layer, eviction), scoreLayerOnCpu);
    const plan = await this.plan({ ...request, geometry: store.geometry, observations });
    applyPlan(store, plan);
    return plan;
  }

  /**
   * Scores from the queries the store recorded on the GPU and the keys in its blocks, with the Ada-KV
   * or uniform split, all as kernels: only the kept indices come back. Scorers without GPU kernels
   * (StreamingLLM's positions) plan on the CPU.
   */
  async evictLayer(store: KvStore, layer: number, eviction: LayerEviction): Promise<number> {
    const method = typeof eviction.method === 'string' ? getMethod(eviction.method) : eviction.method;
    const scorer = method.scorer === snapkvScorer ? 'snapkv' : method.scorer === h2oScorer ? 'h2o' : null;
    const allocation = method.allocation;
    // a store whose heads differ in format keeps them in several pools: its eviction is planned on the CPU
    if (!(store instanceof WebGpuStore) || !(store.cache instanceof GpuPagedCache) || scorer === null || allocation === 'joint') return evictLayerOnCpu(store, layer, eviction);
    // only the method's own options are present; the kernels' defaults are the reference's
    const { window, alpha, kernelSize, pooling, groupReduce } = resolveMethodOptions(method, eviction.options) as Partial<MethodOptions> & { window: number };
    const cache = store.cache;
    const kept = await cache
      .planEviction(layer, {
        scorer,
        window,
        protectedCount: window,
        selectable: Math.max(0, eviction.tokensPerHead - window),
        allocation,
        ...(alpha === undefined ? {} : { alpha }),
        ...(kernelSize === undefined ? {} : { kernelSize }),
        ...(pooling === undefined ? {} : { pooling }),
        ...(groupReduce === undefined ? {} : { groupReduce }),
      })
      .catch((error: unknown) => Promise.reject(toCoreError(error)));
    let before = 0;
    let after = 0;
    kept.forEach((indices, head) => {
      before += store.length(layer, head);
      after += indices.length;
    });
    if (after < before) store.compact(layer, kept);
    return before - after;
  }

  /**
   * Scores every entry of a layer on the CPU, from the keys (values) and recorded query rows read back
   * from the GPU: the same scores as the CPU backends' within f32 rounding of the GPU's activations.
   */
  scoreLayer(store: KvStore, layer: number, scoring: LayerScoring): Promise<Float32Array[]> {
    return scoreLayerOnCpu(store, layer, scoring);
  }

  dispose(): void {
    for (const pool of this.pools) pool.destroy();
    this.pools.clear();
    this.shared.clear();
    if (this.ownsDevice) this.gpu.device.destroy();
  }

  private makePool(
    geometry: CacheGeometry,
    options: { blockSize?: number | undefined; maxBlocks?: number | undefined; kvFormat?: GpuKvFormat | undefined; dispatcher?: Dispatcher },
  ): GpuKvPool {
    const { maxLayerBytes } = this.options;
    const kvFormat = options.kvFormat ?? this.options.kvFormat;
    const { dispatcher } = options;
    const pool = new GpuKvPool(this.gpu, { ...geometry, blockSize: options.blockSize ?? this.options.blockSize, kvFormat, maxLayerBytes, maxBlocks: options.maxBlocks, ...(dispatcher ? { dispatcher } : {}) });
    this.pools.add(pool);
    return pool;
  }
}
