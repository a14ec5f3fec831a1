import { Allocator, DEFAULT_BLOCK_SIZE, type WasmSource } from '@adakv/allocator-wasm';
import { AdakvError } from '../../errors.js';
import { type CacheGeometry, validateGeometry } from '../../geometry.js';
import { Transformer } from '../../model/forward.js';
import type { Model } from '../../model/model.js';
import type { KvStore } from '../../store.js';
import { toCoreError } from './paged-errors.js';
import { PagedPool } from './paged-pool.js';
import { PagedStore } from './paged-store.js';
import type { Backend, ForwardPass, KvPool } from '../backend.js';
import { compressOnCpu, evictLayerOnCpu, planOnCpu } from '../cpu-planning.js';

export interface WasmBackendOptions {
  /** Where allocator.wasm comes from (URL, path, bytes, module); default: the packaged file. */
  readonly wasm?: WasmSource;
  /** Tokens per block of the stores `createStore` makes (default 16). */
  readonly blockSize?: number;
}

/** A fixed or growing {@link PagedPool} for one geometry, as the scheduler sees it. */
class WasmPool implements KvPool {
  constructor(
    readonly pool: PagedPool,
    private readonly geometry: CacheGeometry,
    private readonly release: (pool: PagedPool) => void,
  ) {}

  get blockSize(): number {
    return this.pool.blockSize;
  }

  get capacity(): number {
    return this.pool.capacity;
  }

  stats() {
    return this.pool.stats();
  }

  createStore(): KvStore {
    return this.pool.createStore(this.geometry);
  }

  check(): void {
    this.pool.check();
  }

  dispose(): void {
    this.release(this.pool);
  }
}

/**
 * The WebAssembly backend: K/V in paged blocks of one WASM module (evicted entries really freed,
 * attention in WASM SIMD), compression planned on the CPU. Stores made by `createStore` share one
 * growing pool per head size; `createPool` makes a fixed one for a scheduler.
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly description = 'WebAssembly (paged K/V blocks, SIMD attention)';
  private readonly shared = new Map<number, PagedPool>();
  private readonly pools = new Set<PagedPool>();

  private constructor(
    /** The module every pool of this backend lives in (one linear memory). */
    readonly allocator: Allocator,
    private readonly blockSize: number,
  ) {}

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    try {
      return new WasmBackend(await Allocator.load(options.wasm), options.blockSize ?? DEFAULT_BLOCK_SIZE);
    } catch (error) {
      const translated = toCoreError(error);
      if (translated !== error) throw translated;
      throw new AdakvError('BACKEND_UNAVAILABLE', `Could not start the WebAssembly backend: ${(error as Error).message}`, { cause: error });
    }
  }

  createStore(geometry: CacheGeometry): KvStore {
    validateGeometry(geometry);
    let pool = this.shared.get(geometry.headDim);
    if (!pool) {
      pool = this.track(PagedPool.inAllocator(this.allocator, { headDim: geometry.headDim, blockSize: this.blockSize }));
      this.shared.set(geometry.headDim, pool);
    }
    return pool.createStore(geometry);
  }

  owns(store: KvStore): boolean {
    return store instanceof PagedStore && store.blocks.allocator === this.allocator;
  }

  createPool(geometry: CacheGeometry, options: { blockSize?: number; poolBlocks?: number } = {}): KvPool {
    validateGeometry(geometry);
    const pool = PagedPool.inAllocator(this.allocator, { headDim: geometry.headDim, blockSize: options.blockSize ?? this.blockSize, ...(options.poolBlocks === undefined ? {} : { poolBlocks: options.poolBlocks }) });
    return new WasmPool(this.track(pool), geometry, (released) => {
      this.pools.delete(released);
      released.dispose();
    });
  }

  forwardPass(model: Model): ForwardPass {
    return new Transformer(model);
  }

  readonly plan = planOnCpu;
  readonly compress = compressOnCpu;
  readonly evictLayer = evictLayerOnCpu;

  dispose(): void {
    for (const pool of this.pools) pool.dispose();
    this.pools.clear();
    this.shared.clear();
  }

  private track(pool: PagedPool): PagedPool {
    this.pools.add(pool);
    return pool;
  }
}
