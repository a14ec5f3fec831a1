import { type GpuContext, assertAlive, largestStorageBuffer } from './device.js';
import { Dispatcher } from './dispatcher.js';
import { GpuError, mib } from './errors.js';
import { decodeHalves } from './half.js';

export interface PagedCacheShape {
  readonly layers: number;
  readonly queryHeads: number;
  readonly kvHeads: number;
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

interface HeadPages {
  blocks: number[];
  positions: number[];
}

/** One layer's K and V blocks on the GPU, grown by doubling; block bookkeeping stays on the CPU. */
class LayerStorage {
  keys: GPUBuffer;
  values: GPUBuffer;
  capacity: number;
  readonly free: number[] = [];
  readonly heads: HeadPages[];

  constructor(private readonly cache: GpuPagedCache, kvHeads: number) {
    this.capacity = 0;
    this.keys = this.values = null as unknown as GPUBuffer;
    this.heads = Array.from({ length: kvHeads }, () => ({ blocks: [], positions: [] }));
    this.grow(cache.initialBlocks);
  }

  take(): number {
    this.reserve(1);
    return this.free.pop()!;
  }

  /**
   * Makes sure `needed` free blocks exist, growing the buffers (at least doubling) up to the device's
   * largest storage buffer; throws DEVICE_OUT_OF_MEMORY before anything changes when they cannot.
   */
  reserve(needed: number): void {
    const missing = needed - this.free.length;
    if (missing <= 0) return;
    const halfBlock = this.cache.blockBytes / 2; // K (or V) bytes of one block
    const limit = this.cache.maxLayerBytes;
    const most = Math.floor(limit / halfBlock);
    if (this.capacity + missing > most) {
      throw new GpuError(
        'DEVICE_OUT_OF_MEMORY',
        `One layer's keys would need ${mib((this.capacity + missing) * halfBlock)}, more than the ${mib(limit)} a layer may take ` +
          `(maxLayerBytes, at most the device's largest storage buffer); keep fewer tokens (compress, or a shorter context) or store K/V as f16.`,
      );
    }
    this.grow(Math.min(most, Math.max(this.capacity * 2, this.capacity + missing)));
  }

  private grow(blocks: number): void {
    const bytes = blocks * this.cache.blockBytes / 2;
    const device = this.cache.dispatcher.device;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    device.pushErrorScope('out-of-memory');
    const keys = device.createBuffer({ size: bytes, usage });
    const values = device.createBuffer({ size: bytes, usage });
    void device.popErrorScope().then((error) => {
      if (error) this.cache.outOfMemory = error.message;
    });
    if (this.capacity > 0) {
      const old = (this.capacity * this.cache.blockBytes) / 2;
      // copied in command order, so rows written earlier in the same submission come along
      this.cache.dispatcher.copy(this.keys, 0, keys, 0, old);
      this.cache.dispatcher.copy(this.values, 0, values, 0, old);
      this.cache.dispatcher.retire(this.keys);
      this.cache.dispatcher.retire(this.values);
    } else this.cache.liveBuffers += 2;
    for (let b = blocks - 1; b >= this.capacity; b--) this.free.push(b);
    this.keys = keys;
    this.values = values;
    this.capacity = blocks;
  }

  destroy(): void {
    this.keys.destroy();
    this.values.destroy();
    this.cache.liveBuffers -= 2;
  }
}

/**
 * Paged K/V storage for one sequence on the GPU: per (layer, KV head) a block table and the original
 * position of every row, blocks of `blockSize` rows in one K and one V buffer per layer. Append and
 * compaction are kernels (scatter, gather); decode attention is flash-decoding over the block tables.
 */
export class GpuPagedCache {
  readonly dispatcher: Dispatcher;
  readonly blockSize: number;
  readonly kvFormat: 'f32' | 'f16';
  /** K + V bytes of one block. */
  readonly blockBytes: number;
  /** Most bytes one layer's K (or V) buffer may take. */
  readonly maxLayerBytes: number;
  /** Blocks each layer starts with (at least one per KV head). */
  readonly initialBlocks: number;
  liveBuffers = 0;
  outOfMemory: string | null = null;
  private readonly layers: LayerStorage[];
  private destroyed = false;

  constructor(gpu: GpuContext, readonly shape: PagedCacheShape) {
    const { layers, queryHeads, kvHeads, headDim } = shape;
    for (const [name, value] of Object.entries({ layers, queryHeads, kvHeads, headDim })) {
      if (!Number.isInteger(value) || value <= 0) throw new GpuError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}.`);
    }
    if (queryHeads % kvHeads !== 0 || queryHeads / kvHeads > 8) {
      throw new GpuError('INVALID_ARGUMENT', `queryHeads (${queryHeads}) must be a multiple of kvHeads (${kvHeads}), at most 8 per group.`);
    }
    const kvFormat = shape.kvFormat ?? 'f32';
    if (kvFormat !== 'f32' && kvFormat !== 'f16' && kvFormat !== 'auto') throw new GpuError('INVALID_ARGUMENT', `kvFormat must be 'f32', 'f16' or 'auto', got ${String(kvFormat)}.`);
    this.kvFormat = kvFormat === 'auto' ? (gpu.f16 ? 'f16' : 'f32') : kvFormat;
    if (this.kvFormat === 'f16' && headDim % 2 !== 0) throw new GpuError('INVALID_ARGUMENT', `f16 K/V storage packs pairs: headDim must be even, got ${headDim}.`);
    this.blockSize = shape.blockSize ?? 16;
    this.blockBytes = this.blockSize * this.rowBytes * 2;
    const largest = largestStorageBuffer(gpu);
    this.maxLayerBytes = Math.min(shape.maxLayerBytes ?? largest, largest);
    this.initialBlocks = Math.max(4, kvHeads);
    if (!(this.maxLayerBytes >= (this.initialBlocks * this.blockBytes) / 2)) {
      throw new GpuError('INVALID_ARGUMENT', `maxLayerBytes must hold the first ${this.initialBlocks} blocks (${(this.initialBlocks * this.blockBytes) / 2} bytes), got ${shape.maxLayerBytes}.`);
    }
    this.dispatcher = new Dispatcher(gpu);
    this.layers = Array.from({ length: layers }, () => new LayerStorage(this, kvHeads));
  }

  /** Bytes of one stored K (or V) row. */
  private get rowBytes(): number {
    return this.shape.headDim * (this.kvFormat === 'f16' ? 2 : 4);
  }

  private check(layer: number, head = 0): LayerStorage {
    if (this.destroyed) throw new GpuError('INVALID_ARGUMENT', 'This GPU cache was destroyed.');
    assertAlive(this.dispatcher.gpu);
    if (this.outOfMemory) throw new GpuError('DEVICE_OUT_OF_MEMORY', `The GPU ran out of memory growing the cache: ${this.outOfMemory}`);
    const storage = this.layers[layer];
    if (!storage || !Number.isInteger(head) || head < 0 || head >= this.shape.kvHeads) {
      throw new GpuError('INVALID_ARGUMENT', `No layer ${layer} / KV head ${head} (the cache has ${this.shape.layers} x ${this.shape.kvHeads}).`);
    }
    return storage;
  }

  length(layer: number, head: number): number {
    return this.check(layer, head).heads[head]!.positions.length;
  }

  positions(layer: number, head: number): Int32Array {
    return Int32Array.from(this.check(layer, head).heads[head]!.positions);
  }

  private slot(pages: HeadPages, row: number): number {
    return pages.blocks[Math.floor(row / this.blockSize)]! * this.blockSize + (row % this.blockSize);
  }

  /** Appends `positions.length` tokens to every KV head of `layer` (`[tokens][kvHeads][headDim]`). */
  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    const storage = this.check(layer);
    const { kvHeads, headDim } = this.shape;
    const rows = positions.length * kvHeads;
    if (keys.length !== rows * headDim || values.length !== rows * headDim) {
      throw new GpuError('INVALID_ARGUMENT', `append: expected ${rows * headDim} floats of keys and values, got ${keys.length} and ${values.length}.`);
    }
    if (rows === 0) return;
    const d = this.dispatcher;
    const usage = GPUBufferUsage.STORAGE;
    this.encodeAppend(layer, d.temp(keys.byteLength, usage, keys), d.temp(values.byteLength, usage, values), positions);
    d.submit();
  }

  /**
   * Encodes an append of rows that are already on the GPU (`[tokens][kvHeads][headDim]` in `keys` and
   * `values`), without submitting: the GPU forward pass appends this way.
   */
  encodeAppend(layer: number, keys: GPUBuffer, values: GPUBuffer, positions: Int32Array): void {
    const storage = this.check(layer);
    const { kvHeads, headDim } = this.shape;
    const rows = positions.length * kvHeads;
    const blocksFor = (length: number) => Math.ceil(length / this.blockSize);
    storage.reserve(storage.heads.reduce((sum, h) => sum + blocksFor(h.positions.length + positions.length) - blocksFor(h.positions.length), 0));
    const slots = new Uint32Array(rows);
    positions.forEach((position, t) => {
      for (let h = 0; h < kvHeads; h++) {
        const pages = storage.heads[h]!;
        if (pages.positions.length % this.blockSize === 0) pages.blocks.push(storage.take());
        pages.positions.push(position);
        slots[t * kvHeads + h] = this.slot(pages, pages.positions.length - 1);
      }
    });
    const d = this.dispatcher;
    const f16 = this.kvFormat === 'f16';
    d.run(f16 ? 'scatterRowsF16' : 'scatterRows', { headDim, rows }, [keys, values, d.temp(slots.byteLength, GPUBufferUsage.STORAGE, slots), storage.keys, storage.values], { threads: (rows * headDim) / (f16 ? 2 : 1) });
  }

  /** Keeps, per KV head, the rows listed in `kept[head]` (strictly ascending), moving them into fresh blocks. */
  compact(layer: number, kept: readonly Int32Array[]): void {
    const storage = this.check(layer);
    if (kept.length !== this.shape.kvHeads) throw new GpuError('INVALID_ARGUMENT', `compact: one index list per KV head (${this.shape.kvHeads}), got ${kept.length}.`);
    kept.forEach((indices, h) => {
      const length = storage.heads[h]!.positions.length;
      indices.forEach((index, i) => {
        if (!Number.isInteger(index) || index < 0 || index >= length || (i > 0 && index <= indices[i - 1]!)) {
          throw new GpuError('INVALID_ARGUMENT', `compact: head ${h} indices must be strictly ascending in [0, ${length}); got ${index} at ${i}.`);
        }
      });
    });
    storage.reserve(kept.reduce((sum, indices, h) => sum + (indices.length === storage.heads[h]!.positions.length ? 0 : Math.ceil(indices.length / this.blockSize)), 0));
    const moves: number[] = [];
    const released: number[] = [];
    kept.forEach((indices, h) => {
      const pages = storage.heads[h]!;
      if (indices.length === pages.positions.length) return; // everything kept
      const fresh: HeadPages = { blocks: [], positions: [] };
      for (let i = 0; i < indices.length; i++) {
        if (i % this.blockSize === 0) fresh.blocks.push(storage.take());
        moves.push(this.slot(pages, indices[i]!), this.slot(fresh, i));
        fresh.positions.push(pages.positions[indices[i]!]!);
      }
      released.push(...pages.blocks);
      storage.heads[h] = fresh;
    });
    if (moves.length > 0) {
      const d = this.dispatcher;
      const rows = moves.length / 2;
      const words = this.rowBytes / 4; // rows move as 32-bit words, whatever the format
      d.run('gatherRows', { headDim: words, rows }, [d.temp(rows * 8, GPUBufferUsage.STORAGE, Uint32Array.from(moves)), storage.keys, storage.values], { threads: rows * words });
      d.submit();
    }
    storage.free.push(...released);
  }

  /** softmax(q K^T / sqrt(d)) V for each query head over the layer's cached rows (`[queryHeads][headDim]`). */
  async attend(layer: number, queries: Float32Array): Promise<Float32Array> {
    const { queryHeads, headDim } = this.shape;
    this.check(layer);
    if (queries.length !== queryHeads * headDim) throw new GpuError('INVALID_ARGUMENT', `attend: expected ${queryHeads * headDim} query floats, got ${queries.length}.`);
    const d = this.dispatcher;
    const out = d.temp(queryHeads * headDim * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    this.encodeAttend(layer, d.temp(queries.byteLength, GPUBufferUsage.STORAGE, queries), out);
    return new Float32Array(await d.read(out, queryHeads * headDim * 4));
  }

  /** Encodes decode attention of `queries` (`[queryHeads][headDim]` on the GPU) into `out`, without submitting. */
  encodeAttend(layer: number, queries: GPUBuffer, out: GPUBuffer): void {
    const storage = this.check(layer);
    const { queryHeads, kvHeads, headDim } = this.shape;
    const splitRows = 128;
    const lengths = Uint32Array.from(storage.heads, (h) => h.positions.length);
    const maxBlocks = Math.max(1, ...storage.heads.map((h) => h.blocks.length));
    const tables = new Uint32Array(kvHeads * maxBlocks);
    storage.heads.forEach((h, i) => tables.set(h.blocks, i * maxBlocks));
    const splits = Math.max(1, Math.ceil(Math.max(...lengths) / splitRows));
    const d = this.dispatcher;
    const usage = GPUBufferUsage.STORAGE;
    const partials = d.temp(queryHeads * splits * (headDim + 2) * 4, usage);
    d.run(
      this.kvFormat === 'f16' ? 'pagedAttentionF16' : 'pagedAttention',
      { headDim, groupSize: queryHeads / kvHeads, blockSize: this.blockSize, maxBlocks, splitRows, splits, scale: 1 / Math.sqrt(headDim) },
      [storage.keys, storage.values, queries, d.temp(tables.byteLength, usage, tables), d.temp(lengths.byteLength, usage, lengths), partials],
      { x: splits, y: kvHeads },
    );
    d.run('attentionReduce', { headDim, splits, queryHeads }, [partials, out], { x: queryHeads });
  }

  /** One head's keys or values, `[length][headDim]`, read back from the GPU. */
  async rows(layer: number, head: number, kind: 'keys' | 'values'): Promise<Float32Array> {
    const storage = this.check(layer, head);
    const pages = storage.heads[head]!;
    const rowBytes = this.rowBytes;
    const total = pages.positions.length * rowBytes;
    const d = this.dispatcher;
    const gathered = d.temp(total, GPUBufferUsage.COPY_SRC);
    pages.blocks.forEach((block, b) => {
      const rows = Math.min(this.blockSize, pages.positions.length - b * this.blockSize);
      d.copy(kind === 'keys' ? storage.keys : storage.values, block * this.blockSize * rowBytes, gathered, b * this.blockSize * rowBytes, rows * rowBytes);
    });
    const bytes = await d.read(gathered, total);
    return this.kvFormat === 'f16' ? decodeHalves(bytes) : new Float32Array(bytes);
  }

  /** Bytes of the blocks the sequence holds (K and V, partly filled blocks included). */
  bytes(): number {
    return this.layers.reduce((sum, l) => sum + l.heads.reduce((s, h) => s + h.blocks.length, 0), 0) * this.blockBytes;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const layer of this.layers) layer.destroy();
  }
}
