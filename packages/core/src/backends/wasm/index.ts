import { DEFAULT_BLOCK_SIZE, Engine, type EngineOptions, type WasmSource, kvBlockBytes } from '@adakv/allocator-wasm';
import { AdakvError } from '../../errors.js';
import { type CacheGeometry, validateGeometry } from '../../geometry.js';
import type { Model } from '../../model/model.js';
import type { KvStore } from '../../store.js';
import { toCoreError } from './paged-errors.js';
import { PagedPool } from './paged-pool.js';
import { PagedStore } from './paged-store.js';
import type { Backend, ForwardPass, KvPool } from '../backend.js';
import { compressOnCpu, evictLayerOnCpu, planOnCpu, scoreLayerOnCpu } from '../cpu-planning.js';
import { WasmForwardPass } from './forward-pass.js';
import { KV_FORMATS, type KvFormat, type StoreOptions, checkKvFormat, headFormatsOf } from '../kv-format.js';

/** Where the engine's module comes from, its threads and the stores' block size. */
export interface WasmBackendOptions {
  /**
   * Where the module comes from (URL, path, bytes, module): one source for the plain single-thread
   * build, or one per variant; default: the files the package ships, found next to its code.
   */
  readonly wasm?: WasmSource | EngineOptions['wasm'];
  /** Tokens per block of the stores `createStore` makes (default 16). */
  readonly blockSize?: number;
  /**
   * Threads that run the model's kernels, the caller's included (default: the available cores).
   * More than one needs WASM threads: always in Node, in browsers only on cross-origin isolated
   * pages; elsewhere the engine runs single-threaded and `description` says why. Results do not
   * depend on it.
   */
  readonly threads?: number;
  /**
   * Keep a q8_0 copy of an f32 classifier (about 27% of its bytes) for greedy decode, which then reads
   * it instead of the whole classifier and recomputes in f32 only the rows that could be the largest:
   * the same tokens, faster (default true). Sampling with a temperature reads the full classifier.
   */
  readonly classifierScreen?: boolean;
}

const isVariantMap = (wasm: WasmBackendOptions['wasm']): wasm is EngineOptions['wasm'] =>
  typeof wasm === 'object' && wasm !== null && !(wasm instanceof URL) && !ArrayBuffer.isView(wasm) && !(wasm instanceof ArrayBuffer) &&
  !(wasm instanceof WebAssembly.Module) && ['simd', 'threads', 'relaxed', 'relaxedThreads'].some((key) => key in wasm);

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

  get blockBytes(): number {
    return this.pool.blockBytes;
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
 * The WebAssembly backend: the fast CPU engine (C++ with SIMD, threads over shared memory) with the
 * model's weights and the K/V blocks in one linear memory (evicted entries really freed, attention
 * reading the blocks in place), compression planned on the CPU. Stores made by `createStore` share one
 * growing pool per head size; `createPool` makes a fixed one for a scheduler.
 */
export class WasmBackend implements Backend {
  /** Which backend this is. */
  readonly name = 'wasm' as const;
  /** The engine build that runs and why (e.g. "allocator.threads.wasm (WASM SIMD128...), 2 threads..."). */
  readonly description: string;
  readonly kvFormats = KV_FORMATS;
  /** One store holds heads of several formats (one pool, a format per head). */
  readonly mixedKvFormats = true;
  private readonly shared = new Map<string, PagedPool>();
  private readonly pools = new Set<PagedPool>();

  private constructor(
    /** The engine every pool and model of this backend lives in (one linear memory). */
    readonly engine: Engine,
    /** Rows per block of the stores `createStore` makes (`createPool` may choose its own). */
    readonly storeBlockSize: number,
    private readonly classifierScreen: boolean,
  ) {
    this.description = engine.notice.replace(/^adakv engine: /, 'WebAssembly engine: ');
  }

  blockBytes(format: KvFormat, headDim: number): number {
    return kvBlockBytes(checkKvFormat(format, this.kvFormats, 'wasm')!, this.storeBlockSize, headDim);
  }

  /** The module instance every pool of this backend lives in. */
  get allocator() {
    return this.engine.allocator;
  }

  /** Loads the engine (the build the runtime supports best) and starts the backend. */
  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const { wasm, threads } = options;
    try {
      const engine = await Engine.load({
        ...(threads === undefined ? {} : { threads }),
        ...(wasm === undefined ? {} : isVariantMap(wasm) ? { wasm } : { wasm: { simd: wasm }, relaxedSimd: false, threads: 1 }),
      });
      return new WasmBackend(engine, options.blockSize ?? DEFAULT_BLOCK_SIZE, options.classifierScreen ?? true);
    } catch (error) {
      const translated = toCoreError(error);
      if (translated !== error) throw translated;
      throw new AdakvError('BACKEND_UNAVAILABLE', `Could not start the WebAssembly backend: ${(error as Error).message}`, { cause: error });
    }
  }

  createStore(geometry: CacheGeometry, options: StoreOptions = {}): KvStore {
    validateGeometry(geometry);
    const formats = headFormatsOf(geometry, options, this.kvFormats, 'wasm');
    // one growing pool per head size: its heads keep blocks of any format (each its own)
    const key = `${geometry.headDim}`;
    let pool = this.shared.get(key);
    if (!pool) {
      pool = this.track(PagedPool.inAllocator(this.allocator, { headDim: geometry.headDim, blockSize: this.storeBlockSize }));
      this.shared.set(key, pool);
    }
    return pool.createStore(geometry, formats);
  }

  owns(store: KvStore): boolean {
    return store instanceof PagedStore && store.blocks.allocator === this.allocator;
  }

  createPool(geometry: CacheGeometry, options: { blockSize?: number; poolBlocks?: number } & StoreOptions = {}): KvPool {
    validateGeometry(geometry);
    const format = checkKvFormat(options.kvFormat, this.kvFormats, 'wasm') ?? 'f32';
    const pool = PagedPool.inAllocator(this.allocator, {
      headDim: geometry.headDim,
      blockSize: options.blockSize ?? this.storeBlockSize,
      format,
      ...(options.poolBlocks === undefined ? {} : { poolBlocks: options.poolBlocks }),
    });
    return new WasmPool(this.track(pool), geometry, (released) => {
      this.pools.delete(released);
      released.dispose();
    });
  }

  forwardPass(model: Model): ForwardPass {
    return new WasmForwardPass(this.engine, model, { classifierScreen: this.classifierScreen });
  }

  readonly plan = planOnCpu;
  readonly compress = compressOnCpu;
  readonly evictLayer = evictLayerOnCpu;
  readonly scoreLayer = scoreLayerOnCpu;

  dispose(): void {
    for (const pool of this.pools) pool.dispose();
    this.pools.clear();
    this.shared.clear();
    this.engine.dispose();
  }

  private track(pool: PagedPool): PagedPool {
    this.pools.add(pool);
    return pool;
  }
}
