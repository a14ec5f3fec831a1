import { Allocator, BlockPool, DEFAULT_BLOCK_SIZE, type KvFormat, type PoolStats, type WasmSource, kvBlockBytes } from '@adakv/allocator-wasm';
import { AdakvError, OptionError } from '../../errors.js';
import { type CacheGeometry, validateGeometry } from '../../geometry.js';
import { toCoreError, translated } from './paged-errors.js';
import { PagedStore } from './paged-store.js';

/** The row width, the block size and the memory budget of a {@link PagedPool}. */
export interface PagedPoolOptions {
  /** Floats per K (and per V) row; every store made from the pool must have this head dim. */
  headDim: number;
  /** Tokens per block (default 16). */
  blockSize?: number;
  /**
   * A fixed pool of exactly this many blocks, allocated up front; appends that need more fail with
   * PoolExhaustedError. Default: the pool starts empty and grows on demand (never moving a block).
   */
  poolBlocks?: number;
  /** How the pool stores K/V (default `f32`; see `KvFormat`): every store made from it shares it. */
  format?: KvFormat;
  /** Where allocator.wasm comes from (URL, path, bytes or WebAssembly.Module); default: the packaged file. */
  wasm?: WasmSource;
}

function checkPoolOptions<T extends Omit<PagedPoolOptions, 'wasm'>>(options: T): T {
  const { blockSize = DEFAULT_BLOCK_SIZE, poolBlocks } = options;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 1024) {
    throw new OptionError(`PagedPool: blockSize must be an integer in [1, 1024] (default ${DEFAULT_BLOCK_SIZE}), got ${blockSize}.`);
  }
  if (poolBlocks !== undefined && (!Number.isInteger(poolBlocks) || poolBlocks < 1)) {
    throw new OptionError(`PagedPool: poolBlocks must be a positive integer (or omitted for a growing pool), got ${poolBlocks}.`);
  }
  return options;
}

/**
 * One pool of fixed-size KV blocks in WebAssembly memory, shared by many sequences: each
 * `createStore(geometry)` is one sequence's KvStore, its blocks drawn from the shared pool.
 */
export class PagedPool {
  /** The block pool in WebAssembly memory. */
  readonly blocks: BlockPool;

  private constructor(blocks: BlockPool) {
    this.blocks = blocks;
  }

  /** Loads the WebAssembly module (its own instance) and makes a pool in it. */
  static async create(options: PagedPoolOptions): Promise<PagedPool> {
    checkPoolOptions(options);
    let allocator: Allocator;
    try {
      allocator = await Allocator.load(options.wasm);
    } catch (error) {
      const translatedError = toCoreError(error);
      if (translatedError !== error) throw translatedError;
      throw new AdakvError('BACKEND_UNAVAILABLE', `Could not start the WebAssembly allocator: ${(error as Error).message}`, { cause: error });
    }
    return PagedPool.inAllocator(allocator, options);
  }

  /** A pool in an already loaded module (pools of one module share its memory). */
  static inAllocator(allocator: Allocator, options: Omit<PagedPoolOptions, 'wasm'>): PagedPool {
    const { headDim, blockSize = DEFAULT_BLOCK_SIZE, poolBlocks, format } = checkPoolOptions(options);
    const fixed = poolBlocks === undefined ? {} : { initialBlocks: poolBlocks, maxBlocks: poolBlocks };
    return new PagedPool(translated(() => BlockPool.inAllocator(allocator, { headDim, blockSize, ...fixed, ...(format ? { format } : {}) })));
  }

  /** Floats per K (and per V) row. */
  get headDim(): number {
    return this.blocks.headDim;
  }

  /** Tokens per block. */
  get blockSize(): number {
    return this.blocks.blockSize;
  }

  /** Bytes of one block in the pool's format, scales included. */
  get blockBytes(): number {
    return kvBlockBytes(this.blocks.format, this.blocks.blockSize, this.blocks.headDim);
  }

  /** Most blocks the pool can ever hold: `poolBlocks` for a fixed pool, the memory limit for a growing one. */
  get capacity(): number {
    return this.blocks.maxBlocks;
  }

  /**
   * A new, empty sequence store whose blocks come from this pool, its heads in the pool's format or
   * each in its own (`formats[layer][head]`).
   */
  createStore(geometry: CacheGeometry, formats?: readonly (readonly KvFormat[])[]): PagedStore {
    validateGeometry(geometry);
    if (geometry.headDim !== this.headDim) {
      throw new OptionError(`PagedPool.createStore: the pool holds rows of headDim ${this.headDim}, the geometry asks for ${geometry.headDim}.`);
    }
    const sequence = translated(() => this.blocks.addSequence(geometry.layers, geometry.kvHeads, formats?.flat()));
    return new PagedStore(geometry, this.blocks, sequence);
  }

  /** Blocks used and free, bytes held, internal waste and metadata across every sequence. */
  stats(): PoolStats {
    return translated(() => this.blocks.stats());
  }

  /** Throws unless no block is owned twice, free + used = total, and every table matches its length. */
  check(): void {
    translated(() => this.blocks.check());
  }

  /** Frees the pool and every store made from it. */
  dispose(): void {
    this.blocks.dispose();
  }
}
