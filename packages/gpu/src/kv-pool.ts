import { type GpuContext, assertAlive, largestStorageBuffer } from './device.js';
import { Dispatcher } from './dispatcher.js';
import { GpuError, mib } from './errors.js';

export interface PagedCacheShape {
  /** Transformer layers. */
  readonly layers: number;
  /** Query heads per layer. */
  readonly queryHeads: number;
  /** Key/value heads per layer. */
  readonly kvHeads: number;
  /** Width of one head. */
  readonly headDim: number;
  /** Tokens per block (default 16). */
  readonly blockSize?: number;
  /**
   * How K/V rows are stored: `f32` (default), or `f16` (two halves per word: half the memory and the
   * attention bandwidth, about 1e-3 relative error; every adapter, arithmetic stays f32), or `auto`:
   * f16 where the adapter offers `shader-f16` (hardware with fast halves), else f32.
   */
  readonly kvFormat?: 'f32' | 'f16' | 'auto';
  /**
   * Most bytes one layer's K (and as many V) may take: a memory cap for the sequence. The device's
   * largest storage buffer by default (and at most); past it, appends fail with DEVICE_OUT_OF_MEMORY.
   */
  readonly maxLayerBytes?: number;
}

/** One (layer, KV head) of a sequence: its blocks in the pool and the original position of every row. */
export interface HeadPages {
  blocks: number[];
  positions: number[];
}

/** A layer's recent query rows on the GPU (a ring of `rows` rows) and their positions on the CPU. */
export interface QueryRing {
  readonly buffer: GPUBuffer;
  readonly rows: number;
  /** Position of the query in each slot. */
  readonly positions: Int32Array;
  /** Rows recorded so far, at most `rows`. */
  count: number;
  /** The slot the next row goes to (the oldest once the ring is full). */
  next: number;
}

/** The shape of a {@link GpuKvPool}'s sequences and its memory budget. */
export interface GpuKvPoolOptions extends PagedCacheShape {
  /**
   * Blocks per layer, allocated up front: the pool's memory budget. A request for more fails with
   * POOL_EXHAUSTED before anything changes. Omitted, each layer's buffers grow by doubling up to
   * `maxLayerBytes` (at most the device's largest storage buffer), then DEVICE_OUT_OF_MEMORY.
   */
  readonly maxBlocks?: number;
}

/** Blocks of a pool, counted over all its layers (a block: `blockSize` rows of K and V of one KV head). */
export interface GpuKvPoolStats {
  /** Blocks the pool has now. */
  readonly totalBlocks: number;
  /** Blocks held by sequences. */
  readonly usedBlocks: number;
  /** Blocks free for appends. */
  readonly freeBlocks: number;
  /** K + V bytes of one block. */
  readonly blockBytes: number;
}

/** One layer's K and V buffers, shared by every sequence of the pool, and the blocks no sequence holds. */
export interface PoolLayer {
  keys: GPUBuffer;
  values: GPUBuffer;
  capacity: number;
  readonly free: number[];
}

/**
 * One GPU pool of K/V blocks for many sequences (KV-Compress's layout): per layer one K and one V
 * buffer shared by all sequences and one free list. A sequence (`GpuPagedCache.inPool(pool)`) owns per
 * (layer, KV head) a block table and the positions of its rows (CPU-side bookkeeping); destroying it
 * returns its blocks. Every sequence encodes on the pool's {@link dispatcher}, so one submission can
 * carry the work of all of them (the batched decode step). A pool either has a fixed number of blocks
 * per layer (`maxBlocks`, allocated up front) or grows by doubling; growing copies every sequence's rows
 * into the new buffers in command order and retires the old ones.
 */
export class GpuKvPool {
  /** Encodes the kernels of every sequence of the pool, in one command stream. */
  readonly dispatcher: Dispatcher;
  /** The options the pool was made with. */
  readonly shape: GpuKvPoolOptions;
  /** Tokens per block. */
  readonly blockSize: number;
  /** How K/V rows are stored (`auto` resolved). */
  readonly kvFormat: 'f32' | 'f16';
  /** Bytes of one stored K (or V) row. */
  readonly rowBytes: number;
  /** K + V bytes of one block. */
  readonly blockBytes: number;
  /** Most bytes one layer's K (or V) buffer may take. */
  readonly maxLayerBytes: number;
  /** Fixed blocks per layer, or null when the pool grows. */
  readonly maxBlocks: number | null;
  /** Blocks each layer of a growing pool starts with (at least one per KV head). */
  readonly initialBlocks: number;
  /** GPU buffers the pool holds (K and V per layer). */
  liveBuffers = 0;
  /** Set when the device ran out of memory growing the pool; every later use throws DEVICE_OUT_OF_MEMORY. */
  outOfMemory: string | null = null;
  /** @internal per layer: its buffers and free blocks */
  readonly layers: PoolLayer[];
  private readonly sequences = new Set<{ destroy(): void }>();
  private destroyed = false;

  /** @param gpu The device the pool lives on. */
  constructor(readonly gpu: GpuContext, options: GpuKvPoolOptions) {
    const { layers, queryHeads, kvHeads, headDim } = options;
    for (const [name, value] of Object.entries({ layers, queryHeads, kvHeads, headDim })) {
      if (!Number.isInteger(value) || value <= 0) throw new GpuError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}.`);
    }
    if (queryHeads % kvHeads !== 0) {
      throw new GpuError('INVALID_ARGUMENT', `queryHeads (${queryHeads}) must be a multiple of kvHeads (${kvHeads}): each KV head serves a group of query heads.`);
    }
    const kvFormat = options.kvFormat ?? 'f32';
    if (kvFormat !== 'f32' && kvFormat !== 'f16' && kvFormat !== 'auto') throw new GpuError('INVALID_ARGUMENT', `kvFormat must be 'f32', 'f16' or 'auto', got ${String(kvFormat)}.`);
    this.kvFormat = kvFormat === 'auto' ? (gpu.f16 ? 'f16' : 'f32') : kvFormat;
    if (this.kvFormat === 'f16' && headDim % 2 !== 0) throw new GpuError('INVALID_ARGUMENT', `f16 K/V storage packs pairs: headDim must be even, got ${headDim}.`);
    this.blockSize = options.blockSize ?? 16;
    if (!Number.isInteger(this.blockSize) || this.blockSize <= 0) throw new GpuError('INVALID_ARGUMENT', `blockSize must be a positive integer, got ${options.blockSize}.`);
    this.rowBytes = headDim * (this.kvFormat === 'f16' ? 2 : 4);
    this.blockBytes = this.blockSize * this.rowBytes * 2;
    const halfBlock = this.blockBytes / 2;
    const largest = largestStorageBuffer(gpu);
    this.maxLayerBytes = Math.min(options.maxLayerBytes ?? largest, largest);
    this.initialBlocks = Math.max(4, kvHeads);
    this.maxBlocks = options.maxBlocks ?? null;
    if (this.maxBlocks !== null) {
      if (!Number.isInteger(this.maxBlocks) || this.maxBlocks <= 0) throw new GpuError('INVALID_ARGUMENT', `maxBlocks must be a positive integer, got ${options.maxBlocks}.`);
      if (this.maxBlocks * halfBlock > this.maxLayerBytes) {
        const code = this.maxBlocks * halfBlock > largest ? 'DEVICE_OUT_OF_MEMORY' : 'INVALID_ARGUMENT';
        throw new GpuError(code, `${this.maxBlocks} blocks per layer need ${mib(this.maxBlocks * halfBlock)} of keys per layer, more than the ${mib(this.maxLayerBytes)} a layer may take (maxLayerBytes, at most the device's largest storage buffer); give the pool fewer blocks, or store K/V as f16.`);
      }
    } else if (!(this.maxLayerBytes >= this.initialBlocks * halfBlock)) {
      throw new GpuError('INVALID_ARGUMENT', `maxLayerBytes must hold the first ${this.initialBlocks} blocks (${this.initialBlocks * halfBlock} bytes), got ${options.maxLayerBytes}.`);
    }
    this.shape = { ...options, kvFormat: this.kvFormat, blockSize: this.blockSize };
    this.dispatcher = new Dispatcher(gpu);
    this.layers = Array.from({ length: layers }, () => {
      const layer: PoolLayer = { keys: null as unknown as GPUBuffer, values: null as unknown as GPUBuffer, capacity: 0, free: [] };
      this.grow(layer, this.maxBlocks ?? this.initialBlocks);
      return layer;
    });
  }

  /** Blocks over all layers: held by sequences, and free. */
  stats(): GpuKvPoolStats {
    let totalBlocks = 0;
    let freeBlocks = 0;
    for (const layer of this.layers) {
      totalBlocks += layer.capacity;
      freeBlocks += layer.free.length;
    }
    return { totalBlocks, usedBlocks: totalBlocks - freeBlocks, freeBlocks, blockBytes: this.blockBytes };
  }

  /** Frees the pool's buffers; its sequences can no longer be used. */
  destroy(): void {
    if (this.destroyed) return;
    for (const sequence of [...this.sequences]) sequence.destroy();
    this.destroyed = true;
    for (const layer of this.layers) {
      layer.keys.destroy();
      layer.values.destroy();
      this.liveBuffers -= 2;
    }
  }

  /** Whether {@link GpuKvPool.destroy} ran. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** @internal Throws a typed error if the pool (or its device) can no longer be used. */
  check(): void {
    if (this.destroyed) throw new GpuError('INVALID_ARGUMENT', 'This GPU K/V pool was destroyed.');
    assertAlive(this.gpu);
    if (this.outOfMemory) throw new GpuError('DEVICE_OUT_OF_MEMORY', `The GPU ran out of memory growing the K/V pool: ${this.outOfMemory}`);
  }

  /** @internal A sequence of this pool was created / destroyed. */
  adopt(sequence: { destroy(): void }): void {
    this.sequences.add(sequence);
  }

  /** @internal */
  forget(sequence: { destroy(): void }): void {
    this.sequences.delete(sequence);
  }

  /**
   * @internal Makes sure layer `l` has `needs[l]` free blocks, for every layer at once: every layer is
   * checked before any grows, so a refusal (POOL_EXHAUSTED for a fixed pool, DEVICE_OUT_OF_MEMORY past
   * a growing pool's limit) changes nothing.
   */
  reserve(needs: ArrayLike<number>): void {
    const halfBlock = this.blockBytes / 2;
    const most = Math.floor(this.maxLayerBytes / halfBlock);
    for (let l = 0; l < needs.length; l++) {
      const layer = this.layers[l]!;
      const missing = needs[l]! - layer.free.length;
      if (missing <= 0) continue;
      if (this.maxBlocks !== null) {
        throw new GpuError(
          'POOL_EXHAUSTED',
          `The K/V pool has ${layer.free.length} free blocks of ${layer.capacity} in layer ${l}, and ${needs[l]} are needed; ` +
            'finish or evict sequences, or give the pool more blocks (maxBlocks).',
        );
      }
      if (layer.capacity + missing > most) {
        throw new GpuError(
          'DEVICE_OUT_OF_MEMORY',
          `One layer's keys would need ${mib((layer.capacity + missing) * halfBlock)}, more than the ${mib(this.maxLayerBytes)} a layer may take ` +
            `(maxLayerBytes, at most the device's largest storage buffer); keep fewer tokens (compress, or a shorter context) or store K/V as f16.`,
        );
      }
    }
    for (let l = 0; l < needs.length; l++) {
      const layer = this.layers[l]!;
      const missing = needs[l]! - layer.free.length;
      if (missing > 0) this.grow(layer, Math.min(most, Math.max(layer.capacity * 2, layer.capacity + missing)));
    }
  }

  /** @internal A free block of layer `l` (reserved before). */
  take(l: number): number {
    const block = this.layers[l]!.free.pop();
    if (block === undefined) throw new GpuError('POOL_EXHAUSTED', `No free block in layer ${l} of the K/V pool.`);
    return block;
  }

  /** @internal Gives blocks of layer `l` back. */
  release(l: number, blocks: readonly number[]): void {
    this.layers[l]!.free.push(...blocks);
  }

  private grow(layer: PoolLayer, blocks: number): void {
    const bytes = (blocks * this.blockBytes) / 2;
    const device = this.gpu.device;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    device.pushErrorScope('out-of-memory');
    const keys = device.createBuffer({ size: bytes, usage });
    const values = device.createBuffer({ size: bytes, usage });
    void device.popErrorScope().then((error) => {
      if (error) this.outOfMemory = error.message;
    });
    if (layer.capacity > 0) {
      const old = (layer.capacity * this.blockBytes) / 2;
      // copied in command order, so rows written earlier in the same submission (by any sequence) come along
      this.dispatcher.copy(layer.keys, 0, keys, 0, old);
      this.dispatcher.copy(layer.values, 0, values, 0, old);
      this.dispatcher.retire(layer.keys);
      this.dispatcher.retire(layer.values);
    } else this.liveBuffers += 2;
    for (let b = blocks - 1; b >= layer.capacity; b--) layer.free.push(b);
    layer.keys = keys;
    layer.values = values;
    layer.capacity = blocks;
  }
}
