import { FEATURE_RELAXED_SIMD, FEATURE_THREADS } from './abi.js';
import { Allocator } from './allocator.js';
import { BlockPool, type BlockPoolOptions } from './block-pool.js';
import { AllocatorError } from './errors.js';
import { availableCores, startWorkers, threadSupport } from './threads.js';
import {
  compileWasmSource,
  defaultRelaxedThreadsWasmUrl,
  defaultRelaxedWasmUrl,
  defaultThreadsWasmUrl,
  defaultWasmUrl,
  type WasmSource,
} from './wasm-source.js';
import { WasmModel, type EngineModelConfig, type EngineModelWeights, type ModelLoadOptions } from './wasm-model.js';

/** Which build runs: WASM SIMD128 or relaxed SIMD (fused multiply-add), single-thread or threads over shared memory. */
export type EngineVariant = 'simd' | 'simd-threads' | 'relaxed-simd' | 'relaxed-simd-threads';

/** How {@link Engine.load} picks and starts a build. */
export interface EngineOptions {
  /**
   * Threads that run the kernels, the calling thread included (default: the available cores, at most
   * 16). More than 1 needs the threads variant: always available in Node, in browsers only on
   * cross-origin isolated pages; elsewhere the engine runs single-threaded and `notice` says why.
   */
  threads?: number;
  /**
   * Use the relaxed-SIMD build (fused multiply-add) when the runtime validates relaxed SIMD (default
   * true: Chromium does; Node 20 only with --experimental-wasm-relaxed-simd). False forces plain SIMD.
   */
  relaxedSimd?: boolean;
  /** Where each variant's .wasm comes from (default: the files shipped in the package's wasm/ folder). */
  wasm?: {
    /** The SIMD128 build. */
    simd?: WasmSource;
    /** The SIMD128 threads build. */
    threads?: WasmSource;
    /** The relaxed-SIMD build. */
    relaxed?: WasmSource;
    /** The relaxed-SIMD threads build. */
    relaxedThreads?: WasmSource;
  };
}

// The smallest module using f32x4.relaxed_madd (0xfd 0x85 0x02), the standardized relaxed-SIMD encoding.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 0x20, 0, 0x20, 1,
  0x20, 2, 0xfd, 0x85, 0x02, 0x0b,
]);

/** Whether this runtime validates the standardized relaxed-SIMD opcodes. */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}


/** Refuses a .wasm given for one variant that is another (e.g. the plain build passed as `threads`). */
function checkFeatures(allocator: Allocator, threads: boolean, relaxed: boolean): void {
  const features = allocator.exports.adakv_build_features();
  const hasThreads = (features & FEATURE_THREADS) !== 0 && allocator.exports.adakv_thread_set_stack !== undefined;
  const hasRelaxed = (features & FEATURE_RELAXED_SIMD) !== 0;
  if (hasThreads !== threads || hasRelaxed !== relaxed) {
    throw new AllocatorError(
      'WASM_LOAD_FAILED',
      `Engine.load: the .wasm given for the ${relaxed ? 'relaxed-SIMD ' : ''}${threads ? 'threads' : 'single-thread'} variant is a ${hasRelaxed ? 'relaxed-SIMD ' : ''}${hasThreads ? 'threads' : 'single-thread'} build.`,
    );
  }
}

/**
 * The fast CPU engine: one instance of the allocator's WebAssembly (a variant chosen at load) whose
 * linear memory holds the block pools, the model weights and every work buffer, plus the workers that
 * share that memory. Create pools with {@link Engine.createPool} and models with
 * {@link Engine.loadModel}; both live in this engine's memory, so decode attention reads the pool's
 * blocks in place and the kernels read the weights in place.
 */
export class Engine {
  /** The instantiated build: its exports and memory. */
  readonly allocator: Allocator;
  /** Which build runs. */
  readonly variant: EngineVariant;
  /** Threads running the kernels, the caller's included. */
  readonly threads: number;
  /** What was chosen and why, in words (for logs and UIs). */
  readonly notice: string;
  private workers: { terminate(): void }[];
  private readonly models = new Set<WasmModel>();
  private disposedFlag = false;

  private constructor(allocator: Allocator, variant: EngineVariant, threads: number, notice: string, workers: { terminate(): void }[]) {
    this.allocator = allocator;
    this.variant = variant;
    this.threads = threads;
    this.notice = notice;
    this.workers = workers;
  }

  /** Loads the best variant this runtime supports and starts its workers. */
  static async load(options: EngineOptions = {}): Promise<Engine> {
    const requested = options.threads ?? (await availableCores());
    if (!Number.isInteger(requested) || requested < 1 || requested > 64) {
      throw new AllocatorError('INVALID_ARGUMENT', `Engine.load: threads must be an integer from 1 to 64, got ${requested}.`);
    }
    const supported = relaxedSimdSupported();
    const relaxed = supported && options.relaxedSimd !== false;
    const simdNote = relaxed
      ? 'relaxed SIMD (fused multiply-add)'
      : `WASM SIMD128; ${supported ? 'relaxed SIMD turned off by the relaxedSimd option' : 'this runtime does not validate relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)'}`;
    let fallback = '';
    if (requested > 1) {
      const support = await threadSupport();
      if (support.ok) {
        const source = relaxed ? (options.wasm?.relaxedThreads ?? defaultRelaxedThreadsWasmUrl()) : (options.wasm?.threads ?? defaultThreadsWasmUrl());
        const module = await compileWasmSource(source);
        const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
        const allocator = await Allocator.instantiate(module, { memory });
        checkFeatures(allocator, true, relaxed);
        try {
          const workers = await startWorkers(allocator, requested);
          const file = relaxed ? 'allocator.relaxed-threads.wasm' : 'allocator.threads.wasm';
          const notice = `adakv engine: ${file} (${simdNote}), ${requested} threads over one shared memory.`;
          return new Engine(allocator, relaxed ? 'relaxed-simd-threads' : 'simd-threads', requested, notice, workers);
        } catch (error) {
          fallback = ` ${requested} threads were requested but the workers did not start (${(error as Error).message}), so it runs single-threaded.`;
        }
      } else {
        fallback = ` ${requested} threads were requested, but ${support.reason}, so it runs single-threaded.`;
      }
    }
    const source = relaxed ? (options.wasm?.relaxed ?? defaultRelaxedWasmUrl()) : (options.wasm?.simd ?? defaultWasmUrl());
    const allocator = await Allocator.load(source);
    checkFeatures(allocator, false, relaxed);
    const why = requested === 1 && !fallback ? ' (1 thread requested)' : '';
    const file = relaxed ? 'allocator.relaxed.wasm' : 'allocator.wasm';
    return new Engine(allocator, relaxed ? 'relaxed-simd' : 'simd', 1, `adakv engine: ${file} (${simdNote}), single thread${why}.${fallback}`, []);
  }

  /** A block pool in this engine's memory (the pools a model's prefill/decode read and write). */
  createPool(options: BlockPoolOptions): BlockPool {
    this.live();
    return BlockPool.inAllocator(this.allocator, options);
  }

  /** Uploads a model's tensors into this engine's memory, each in its own format (see WasmModel.create). */
  loadModel(config: EngineModelConfig, weights: EngineModelWeights, options: ModelLoadOptions = {}): WasmModel {
    this.live();
    const model = WasmModel.create(this, config, weights, options);
    this.models.add(model);
    return model;
  }

  /** @internal */
  forgetModel(model: WasmModel): void {
    this.models.delete(model);
  }

  /** Frees every model, stops the workers. Pools created here stay valid until the allocator is dropped. */
  dispose(): void {
    if (this.disposedFlag) return;
    for (const model of [...this.models]) model.dispose();
    if (this.workers.length > 0) {
      this.allocator.exports.adakv_threads_stop();
      for (const worker of this.workers) worker.terminate();
      this.workers = [];
    }
    this.disposedFlag = true;
  }

  /** Whether {@link Engine.dispose} ran. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** @internal */
  live(): void {
    if (this.disposedFlag) throw new AllocatorError('INVALID_HANDLE', 'This Engine was disposed: load a new one.');
  }
}
