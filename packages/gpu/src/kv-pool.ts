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
   * How K/V rows are stored: `f32` (default), `f16` (two halves per word: half the memory and the
   * attention bandwidth, about 1e-3 relative error; every adapter, arithmetic stays f32), `int8` /
   * `int4` (symmetric, the WASM pool's numerics: keys one scale per channel per block, values one per
   * row / per 32 channels of a row, each max|x| / levels rounded up to binary16; |error| <= scale / 2
   * below 65504 x levels, clamped past it; a head's partly filled last block is held in
   * f32 until it fills; int4 needs an even headDim), or `auto`: f16 where the adapter offers
   * `shader-f16` (hardware with fast halves), else f32.
   */
  readonly kvFormat?: GpuKvFormat | 'auto';
  /**
   * Most bytes one layer's K (and as many V) may take: a memory cap for the sequence. The device's
   * largest storage buffer by default (and at most); past it, appends fail with DEVICE_OUT_OF_MEMORY.
   */
  readonly maxLayerBytes?: number;
}

/** How a pool stores K/V: f32, f16, or symmetric int8 / int4 blocks (see {@link PagedCacheShape.kvFormat}). */
export type GpuKvFormat = 'f32' | 'f16' | 'int8' | 'int4';

/** Every storage format a pool holds (`auto` resolves to one of them). */
export const GPU_KV_FORMATS: readonly GpuKvFormat[] = ['f32', 'f16', 'int8', 'int4'];
const FORMATS: readonly string[] = [...GPU_KV_FORMATS, 'auto'];

/** The kernels that read K/V, per storage format (each with its kv-* prelude, the only code that knows the format). */
const KV_READERS = {
  f32: { attend: 'pagedAttention', causal: 'pagedCausalAttention', recent: 'recentAttention' },
  f16: { attend: 'pagedAttentionF16', causal: 'pagedCausalAttentionF16', recent: 'recentAttentionF16' },
  int8: { attend: 'pagedAttentionInt8', causal: 'pagedCausalAttentionInt8', recent: 'recentAttentionInt8' },
  int4: { attend: 'pagedAttentionInt4', causal: 'pagedCausalAttentionInt4', recent: 'recentAttentionInt4' },
} as const satisfies Record<GpuKvFormat, Record<string, string>>;

/** @internal The kernels of `format` that read K/V: paged attention, chunked-prefill attention, eviction scores. */
export function kvReaders(format: GpuKvFormat): (typeof KV_READERS)[GpuKvFormat] {
  return KV_READERS[format];
}

/** Channels per value scale of int4 blocks. */
export const INT4_GROUP = 32;

/**
 * Bytes of the K and V halves of one block of `blockSize` rows of `headDim` elements in `format`, as
 * a {@link GpuKvPool} lays them out (int8/int4: see kv-int8.wgsl / kv-int4.wgsl, words of
 * `[marker][key scales][levels]` and `[value scales][levels]`, two binary16 scales per word), and of
 * one quantized row.
 */
function kvBlockHalves(format: 'f32' | 'f16' | 'int8' | 'int4', blockSize: number, headDim: number): { keys: number; values: number; rowBytes: number } {
  if (format === 'int8' || format === 'int4') {
    const perWord = format === 'int8' ? 4 : 8;
    const dataWords = Math.ceil((blockSize * headDim) / perWord);
    const valueScales = format === 'int8' ? blockSize : blockSize * Math.ceil(headDim / INT4_GROUP);
    const keys = 4 * (1 + Math.ceil(headDim / 2) + dataWords);
    return { keys, values: 4 * (Math.ceil(valueScales / 2) + dataWords), rowBytes: (headDim * 4) / perWord };
  }
  const rowBytes = headDim * (format === 'f16' ? 2 : 4);
  return { keys: blockSize * rowBytes, values: blockSize * rowBytes, rowBytes };
}

/**
 * Bytes of one {@link GpuKvPool} block (K and V of `blockSize` rows of one KV head) in `format`, scales
 * and marker included. int8 / int4: `4 * (1 + ceil(headDim / 2) + ceil(valueScales / 2) + 2 * dataWords)`
 * (each part in whole words), the WASM block's bytes plus the 4-byte marker when headDim and the value
 * scales are even and a block's levels fill whole words, up to 8 bytes more otherwise.
 */
export function gpuKvBlockBytes(format: 'f32' | 'f16' | 'int8' | 'int4', blockSize: number, headDim: number): number {
  const { keys, values } = kvBlockHalves(format, blockSize, headDim);
  return keys + values;
}

/**
 * One (layer, KV head) of a sequence: its blocks in the pool and the original position of every row;
 * in an int8/int4 pool, the residual slot holding its partly filled last block's rows in f32, if any.
 */
export interface HeadPages {
  blocks: number[];
  positions: number[];
  residual?: number | undefined;
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
  /**
   * The command stream the pool's sequences encode into; by default a new one. Pools that share one
   * can serve one decode step together (a sequence whose heads differ in format keeps them in a pool
   * per format: {@link GpuMixedCache}).
   */
  readonly dispatcher?: Dispatcher;
}

/** Blocks of a pool, counted over all its layers (a block: `blockSize` rows of K and V of one KV head). */
export interface GpuKvPoolStats {
  /** Blocks the pool has now. */
  readonly totalBlocks: number;
  /** Blocks held by sequences. */
  readonly usedBlocks: number;
  /** Blocks free for appends. */
  readonly freeBlocks: number;
  /** K + V bytes of one block (scales and marker included). */
  readonly blockBytes: number;
  /** Bytes of the f32 residual rows sequences hold now (K + V; int8 / int4 pools only, else 0). */
  readonly residualBytes: number;
  /** Bytes of every K/V buffer the pool has allocated: blocks of all layers, and residual slots. */
  readonly bufferBytes: number;
}

/** One layer's K and V buffers, shared by every sequence of the pool, and the blocks no sequence holds. */
export interface PoolLayer {
  keys: GPUBuffer;
  values: GPUBuffer;
  capacity: number;
  readonly free: number[];
  /** int8 / int4: f32 rows `[slot][blockSize][headDim]` of the heads' partly filled last blocks (else null). */
  residualKeys: GPUBuffer | null;
  residualValues: GPUBuffer | null;
  /** Residual slots the buffers hold. */
  residualCapacity: number;
  readonly residualFree: number[];
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
  readonly kvFormat: GpuKvFormat;
  /** Whether blocks are int8 / int4 (encoded when they fill, partly filled last blocks in f32 residual slots). */
  readonly quantized: boolean;
  /** Bytes of one stored K (or V) row (f32 and f16; for int8 / int4, the bytes of its levels). */
  readonly rowBytes: number;
  /** Bytes of one block in the keys buffer (int8 / int4: marker, per-channel scales and levels). */
  readonly keyBlockBytes: number;
  /** Bytes of one block in the values buffer (int8 / int4: per-row or per-group scales and levels). */
  readonly valueBlockBytes: number;
  /** K + V bytes of one block. */
  readonly blockBytes: number;
  /** K + V bytes of one f32 residual slot (int8 / int4; 0 otherwise). */
  readonly residualSlotBytes: number;
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
    if (!FORMATS.includes(kvFormat)) throw new GpuError('INVALID_ARGUMENT', `kvFormat must be 'f32', 'f16', 'int8', 'int4' or 'auto', got ${String(kvFormat)}.`);
    this.kvFormat = kvFormat === 'auto' ? (gpu.f16 ? 'f16' : 'f32') : kvFormat;
    if (this.kvFormat === 'f16' && headDim % 2 !== 0) throw new GpuError('INVALID_ARGUMENT', `f16 K/V storage packs pairs: headDim must be even, got ${headDim}.`);
    if (this.kvFormat === 'int4' && headDim % 2 !== 0) throw new GpuError('INVALID_ARGUMENT', `int4 K/V storage packs two levels per byte, as the WASM pool does: headDim must be even, got ${headDim}.`);
    this.blockSize = options.blockSize ?? 16;
    if (!Number.isInteger(this.blockSize) || this.blockSize <= 0) throw new GpuError('INVALID_ARGUMENT', `blockSize must be a positive integer, got ${options.blockSize}.`);
    const B = this.blockSize;
    this.quantized = this.kvFormat === 'int8' || this.kvFormat === 'int4';
    const halves = kvBlockHalves(this.kvFormat, B, headDim);
    this.rowBytes = halves.rowBytes;
    this.keyBlockBytes = halves.keys;
    this.valueBlockBytes = halves.values;
    this.residualSlotBytes = this.quantized ? 2 * B * headDim * 4 : 0;
    this.blockBytes = this.keyBlockBytes + this.valueBlockBytes;
    const halfBlock = Math.max(this.keyBlockBytes, this.valueBlockBytes); // the larger buffer of a layer sets its limit
    const largest = largestStorageBuffer(gpu);
    this.maxLayerBytes = Math.min(options.maxLayerBytes ?? largest, largest);
    this.initialBlocks = Math.max(4, kvHeads);
    this.maxBlocks = options.maxBlocks ?? null;
    if (this.maxBlocks !== null) {
      if (!Number.isInteger(this.maxBlocks) || this.maxBlocks <= 0) throw new GpuError('INVALID_ARGUMENT', `maxBlocks must be a positive integer, got ${options.maxBlocks}.`);
      if (this.maxBlocks * halfBlock > this.maxLayerBytes) {
        const code = this.maxBlocks * halfBlock > largest ? 'DEVICE_OUT_OF_MEMORY' : 'INVALID_ARGUMENT';
        throw new GpuError(code, `${this.maxBlocks} blocks per layer need ${mib(this.maxBlocks * halfBlock)} of keys per layer, more than the ${mib(this.maxLayerBytes)} a layer may take (maxLayerBytes, at most the device's largest storage buffer); give the pool fewer blocks, or store K/V as f16, int8 or int4.`);
      }
    } else if (!(this.maxLayerBytes >= this.initialBlocks * halfBlock)) {
      throw new GpuError('INVALID_ARGUMENT', `maxLayerBytes must hold the first ${this.initialBlocks} blocks (${this.initialBlocks * halfBlock} bytes), got ${options.maxLayerBytes}.`);
    }
    const { dispatcher, ...shape } = options;
    if (dispatcher !== undefined && dispatcher.gpu !== gpu) throw new GpuError('INVALID_ARGUMENT', 'A pool must encode on a dispatcher of its own device.');
    this.shape = { ...shape, kvFormat: this.kvFormat, blockSize: this.blockSize };
    this.dispatcher = dispatcher ?? new Dispatcher(gpu);
    this.layers = Array.from({ length: layers }, () => {
      const layer: PoolLayer = { keys: null as unknown as GPUBuffer, values: null as unknown as GPUBuffer, capacity: 0, free: [], residualKeys: null, residualValues: null, residualCapacity: 0, residualFree: [] };
      this.grow(layer, this.maxBlocks ?? this.initialBlocks);
      if (this.quantized) this.growResiduals(layer, kvHeads);
      return layer;
    });
  }

  /** Blocks over all layers: held by sequences, and free. */
  stats(): GpuKvPoolStats {
    let totalBlocks = 0;
    let freeBlocks = 0;
    let residualSlots = 0;
    let heldResiduals = 0;
    for (const layer of this.layers) {
      totalBlocks += layer.capacity;
      freeBlocks += layer.free.length;
      residualSlots += layer.residualCapacity;
      heldResiduals += layer.residualCapacity - layer.residualFree.length;
    }
    return {
      totalBlocks,
      usedBlocks: totalBlocks - freeBlocks,
      freeBlocks,
      blockBytes: this.blockBytes,
      residualBytes: heldResiduals * this.residualSlotBytes,
      bufferBytes: totalBlocks * this.blockBytes + residualSlots * this.residualSlotBytes,
    };
  }

  /** Frees the pool's buffers; its sequences can no longer be used. */
  destroy(): void {
    if (this.destroyed) return;
    for (const sequence of [...this.sequences]) sequence.destroy();
    this.destroyed = true;
    for (const layer of this.layers) {
      for (const buffer of [layer.keys, layer.values, layer.residualKeys, layer.residualValues]) {
        if (!buffer) continue;
        buffer.destroy();
        this.liveBuffers--;
      }
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
  reserve(needs: ArrayLike<number>, residualNeeds?: ArrayLike<number>): void {
    const halfBlock = Math.max(this.keyBlockBytes, this.valueBlockBytes);
    const slotBytes = this.residualSlotBytes / 2;
    const mostSlots = slotBytes > 0 ? Math.floor(largestStorageBuffer(this.gpu) / slotBytes) : 0;
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
            `(maxLayerBytes, at most the device's largest storage buffer); keep fewer tokens (compress, or a shorter context) or store K/V as f16, int8 or int4.`,
        );
      }
    }
    if (residualNeeds && this.quantized) {
      for (let l = 0; l < residualNeeds.length; l++) {
        const layer = this.layers[l]!;
        const missing = residualNeeds[l]! - layer.residualFree.length;
        if (missing > 0 && layer.residualCapacity + missing > mostSlots) {
          throw new GpuError('DEVICE_OUT_OF_MEMORY', `The f32 rows of ${layer.residualCapacity + missing} heads' partly filled blocks would take ${mib((layer.residualCapacity + missing) * slotBytes)} in layer ${l}, more than the device's largest storage buffer; decode fewer sequences at once.`);
        }
      }
    }
    for (let l = 0; l < needs.length; l++) {
      const layer = this.layers[l]!;
      const missing = needs[l]! - layer.free.length;
      if (missing > 0) this.grow(layer, Math.min(most, Math.max(layer.capacity * 2, layer.capacity + missing)));
    }
    if (residualNeeds && this.quantized) {
      for (let l = 0; l < residualNeeds.length; l++) {
        const layer = this.layers[l]!;
        const missing = residualNeeds[l]! - layer.residualFree.length;
        if (missing > 0) this.growResiduals(layer, Math.min(mostSlots, Math.max(layer.residualCapacity * 2, layer.residualCapacity + missing)));
      }
    }
  }

  /** @internal A free residual slot of layer `l` (reserved before). */
  takeResidual(l: number): number {
    const slot = this.layers[l]!.residualFree.pop();
    if (slot === undefined) throw new GpuError('POOL_EXHAUSTED', `No free residual slot in layer ${l} of the K/V pool.`);
    return slot;
  }

  /** @internal Gives residual slots of layer `l` back. */
  releaseResiduals(l: number, slots: readonly number[]): void {
    this.layers[l]!.residualFree.push(...slots);
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
    const device = this.gpu.device;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    device.pushErrorScope('out-of-memory');
    const keys = device.createBuffer({ size: blocks * this.keyBlockBytes, usage });
    const values = device.createBuffer({ size: blocks * this.valueBlockBytes, usage });
    void device.popErrorScope().then((error) => {
      if (error) this.outOfMemory = error.message;
    });
    if (layer.capacity > 0) {
      // copied in command order, so rows written earlier in the same submission (by any sequence) come along
      this.dispatcher.copy(layer.keys, 0, keys, 0, layer.capacity * this.keyBlockBytes);
      this.dispatcher.copy(layer.values, 0, values, 0, layer.capacity * this.valueBlockBytes);
      this.dispatcher.retire(layer.keys);
      this.dispatcher.retire(layer.values);
    } else this.liveBuffers += 2;
    for (let b = blocks - 1; b >= layer.capacity; b--) layer.free.push(b);
    layer.keys = keys;
    layer.values = values;
    layer.capacity = blocks;
  }

  /** int8 / int4: grows layer's residual slots to `slots` (copying the rows held, in command order). */
  private growResiduals(layer: PoolLayer, slots: number): void {
    const device = this.gpu.device;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const slotBytes = this.residualSlotBytes / 2;
    device.pushErrorScope('out-of-memory');
    const keys = device.createBuffer({ size: slots * slotBytes, usage });
    const values = device.createBuffer({ size: slots * slotBytes, usage });
    void device.popErrorScope().then((error) => {
      if (error) this.outOfMemory = error.message;
    });
    if (layer.residualKeys && layer.residualValues) {
      this.dispatcher.copy(layer.residualKeys, 0, keys, 0, layer.residualCapacity * slotBytes);
      this.dispatcher.copy(layer.residualValues, 0, values, 0, layer.residualCapacity * slotBytes);
      this.dispatcher.retire(layer.residualKeys);
      this.dispatcher.retire(layer.residualValues);
    } else this.liveBuffers += 2;
    for (let slot = slots - 1; slot >= layer.residualCapacity; slot--) layer.residualFree.push(slot);
    layer.residualKeys = keys;
    layer.residualValues = values;
    layer.residualCapacity = slots;
  }
}
