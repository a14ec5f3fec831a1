import { ROW_KEYS, ROW_VALUES } from './abi.js';
import { Allocator } from './allocator.js';
import { AllocatorError, check } from './errors.js';
import { KV_FORMATS, kvBlockBytes, kvFormatId, kvFormatName, type KvFormat } from './kv-format.js';
import { POOL_STAT_COUNT, type PoolStats, SEQUENCE_STAT_COUNT, type SequenceStats, poolStatsFrom, sequenceStatsFrom } from './stats.js';
import type { WasmSource } from './wasm-source.js';

/** Tokens per block unless the caller chooses otherwise. */
export const DEFAULT_BLOCK_SIZE = 16;

/** The row width and the size limits of a {@link BlockPool}. */
export interface BlockPoolOptions {
  /** Floats per K (and per V) row. */
  headDim: number;
  /** Tokens per block, 1..1024 (default 16). */
  blockSize?: number;
  /**
   * How K/V are stored (default `f32`): `f16`, `int8` or `int4` hold 2, ~1 or ~0.5 bytes per element
   * (see {@link KvFormat}); appends quantize, attention reads the blocks as they are, reads decode.
   */
  format?: KvFormat;
  /** Blocks allocated up front (default 0: allocate on demand). */
  initialBlocks?: number;
  /**
   * The most blocks the pool may ever hold; appends beyond it fail with POOL_EXHAUSTED. Default: as
   * many as the 4 GiB WebAssembly heap allows.
   */
  maxBlocks?: number;
}

/** cu_seqlens-style view of one layer of a sequence, for varlen kernels. */
export interface FlatLayerView {
  /** kvHeads + 1 prefix sums of head lengths. */
  cuSeqlens: Int32Array;
  /** kvHeads + 1 prefix sums of block counts: head h's blocks are blockTable[cuBlocks[h] .. cuBlocks[h+1]). */
  cuBlocks: Int32Array;
  /** Block ids, head after head. */
  blockTable: Int32Array;
  /**
   * Byte offset in the allocator's memory of each listed block; in an f32 head its K rows, its V rows
   * blockSize rows later (other formats, `headFormat()`: the layout in the README).
   */
  blockAddresses: Uint32Array;
}

interface SequenceShape {
  layers: number;
  kvHeads: number;
}

const MAX_HEAP_BYTES = 2 ** 32;

/**
 * A pool of fixed-size blocks shared by many sequences; each (sequence, layer, KV head) owns a block
 * table. All rows live in the allocator's WebAssembly memory; reads copy them out.
 */
export class BlockPool {
  /** The allocator whose memory holds the pool. */
  readonly allocator: Allocator;
  /** Floats per K (and per V) row. */
  readonly headDim: number;
  /** Tokens per block. */
  readonly blockSize: number;
  /** How the blocks store K/V, unless a sequence gives its heads other formats. */
  readonly format: KvFormat;
  /** The most blocks the pool may hold. */
  readonly maxBlocks: number;
  private handle: number;
  private readonly shapes = new Map<number, SequenceShape>();

  private constructor(allocator: Allocator, handle: number, headDim: number, blockSize: number, maxBlocks: number, format: KvFormat) {
    this.allocator = allocator;
    this.handle = handle;
    this.headDim = headDim;
    this.blockSize = blockSize;
    this.format = format;
    this.maxBlocks = maxBlocks;
  }

  /** Loads the WebAssembly (or uses the given Allocator) and creates a pool in it. */
  static async create(options: BlockPoolOptions & { wasm?: WasmSource | Allocator }): Promise<BlockPool> {
    const allocator = options.wasm instanceof Allocator ? options.wasm : await Allocator.load(options.wasm);
    return BlockPool.inAllocator(allocator, options);
  }

  /** Creates a pool inside an already loaded Allocator. */
  static inAllocator(allocator: Allocator, options: BlockPoolOptions): BlockPool {
    const { headDim } = options;
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    const initialBlocks = options.initialBlocks ?? 0;
    for (const [name, value] of Object.entries({ headDim, blockSize, initialBlocks })) {
      if (!Number.isInteger(value) || value < (name === 'initialBlocks' ? 0 : 1)) {
        throw new AllocatorError('INVALID_ARGUMENT', `BlockPool: ${name} must be a ${name === 'initialBlocks' ? 'non-negative' : 'positive'} integer, got ${value}.`);
      }
    }
    if (blockSize > 1024 || headDim > 4096) {
      throw new AllocatorError('INVALID_ARGUMENT', `BlockPool: blockSize must be at most 1024 and headDim at most 4096, got ${blockSize} and ${headDim}.`);
    }
    const format = options.format ?? 'f32';
    if (kvFormatId(format) < 0) {
      throw new AllocatorError('INVALID_ARGUMENT', `BlockPool: format must be one of ${KV_FORMATS.join(', ')}, got ${String(format)}.`);
    }
    if (format === 'int4' && headDim % 2 !== 0) {
      throw new AllocatorError('INVALID_ARGUMENT', `BlockPool: the int4 format packs two values per byte and needs an even headDim, got ${headDim}.`);
    }
    const blockBytes = kvBlockBytes(format, blockSize, headDim);
    const heapLimit = Math.max(1, Math.min(Math.floor(MAX_HEAP_BYTES / blockBytes), Math.floor(2 ** 31 / blockSize) - 1));
    const maxBlocks = options.maxBlocks ?? Math.max(heapLimit, initialBlocks);
    if (!Number.isInteger(maxBlocks) || maxBlocks < Math.max(1, initialBlocks)) {
      throw new AllocatorError('INVALID_ARGUMENT', `BlockPool: maxBlocks must be an integer >= max(1, initialBlocks = ${initialBlocks}), got ${maxBlocks}.`);
    }
    const handle = check(
      format === 'f32'
        ? allocator.exports.adakv_pool_create(headDim, blockSize, initialBlocks, maxBlocks)
        : allocator.exports.adakv_pool_create_format(headDim, blockSize, initialBlocks, maxBlocks, kvFormatId(format)),
      'BlockPool.create',
    );
    return new BlockPool(allocator, handle, headDim, blockSize, maxBlocks, format);
  }

  /**
   * Adds an empty sequence of `layers` x `kvHeads` heads; returns its handle. Its heads store their
   * blocks in the pool's format, or each in its own: `formats` lists one per head, layer-major
   * (`formats[layer * kvHeads + head]`), so precision can differ per layer and KV head in one pool.
   */
  addSequence(layers: number, kvHeads: number, formats?: readonly KvFormat[]): number {
    if (formats === undefined) {
      const sequence = check(this.allocator.exports.adakv_sequence_add(this.live(), layers, kvHeads), 'addSequence');
      this.shapes.set(sequence, { layers, kvHeads });
      return sequence;
    }
    if (formats.length !== layers * kvHeads) {
      throw new AllocatorError('INVALID_ARGUMENT', `addSequence: give one format per head (${layers} layers x ${kvHeads} KV heads = ${layers * kvHeads}), got ${formats.length}.`);
    }
    const bad = formats.find((format) => kvFormatId(format) < 0 || (format === 'int4' && this.headDim % 2 !== 0));
    if (bad !== undefined) {
      const why = kvFormatId(bad) < 0 ? `must be one of ${KV_FORMATS.join(', ')}` : `needs an even headDim (this pool's is ${this.headDim})`;
      throw new AllocatorError('INVALID_ARGUMENT', `addSequence: format ${String(bad)} ${why}.`);
    }
    const { allocator } = this;
    const [ids] = allocator.scratch.regions(formats.length * 4) as [number];
    allocator.i32(ids, formats.length).set(formats.map(kvFormatId));
    const sequence = check(allocator.exports.adakv_sequence_add_formats(this.live(), layers, kvHeads, ids), 'addSequence');
    this.shapes.set(sequence, { layers, kvHeads });
    return sequence;
  }

  /** The format (`sequence`, `layer`, KV `head`) stores its blocks in. */
  headFormat(sequence: number, layer: number, head: number): KvFormat {
    return kvFormatName(check(this.allocator.exports.adakv_head_format(this.live(), sequence, layer, head), 'headFormat'));
  }

  /** Returns every block of the sequence to the pool; the handle is dead afterwards. */
  removeSequence(sequence: number): void {
    check(this.allocator.exports.adakv_sequence_remove(this.live(), sequence), 'removeSequence');
    this.shapes.delete(sequence);
  }

  /**
   * Appends tokens to every KV head of `layer`: keys/values `[tokens][kvHeads][headDim]`, positions
   * `[tokens]`, or `[tokens][kvHeads]` when each head's rows carry their own positions (heads that keep
   * different tokens). Either every row is written or, on error, none.
   */
  append(sequence: number, layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    const { kvHeads } = this.shape(sequence);
    const tokens = keys.length / (kvHeads * this.headDim);
    const floats = tokens * kvHeads * this.headDim;
    if (!Number.isInteger(tokens) || values.length !== floats) {
      throw new AllocatorError('INVALID_ARGUMENT', `append: keys and values must both be [tokens][${kvHeads}][${this.headDim}] floats, got ${keys.length} and ${values.length}.`);
    }
    const perHead = kvHeads > 1 && positions.length === tokens * kvHeads;
    if (positions.length !== tokens && !perHead) {
      throw new AllocatorError('INVALID_ARGUMENT', `append: ${tokens} tokens need ${tokens} positions (or ${tokens} x ${kvHeads}, one per head), got ${positions.length}.`);
    }
    if (tokens === 0) return;
    const { allocator } = this;
    const [k, v, p] = allocator.scratch.regions(floats * 4, floats * 4, positions.length * 4) as [number, number, number];
    allocator.f32(k, floats).set(keys);
    allocator.f32(v, floats).set(values);
    allocator.i32(p, positions.length).set(positions);
    const append = perHead ? allocator.exports.adakv_append_heads : allocator.exports.adakv_append;
    check(append(this.live(), sequence, layer, tokens, k, v, p), 'append');
  }

  /**
   * Keeps, per KV head of `layer`, the rows whose indices `kept[head]` lists (strictly ascending), in
   * order; whole trailing blocks go back to the pool. Returns how many rows moved. In an int8/int4 pool
   * the blocks that change are decoded and encoded again over their new rows (see the README for the
   * error that adds).
   */
  compact(sequence: number, layer: number, kept: readonly Int32Array[]): number {
    const { kvHeads } = this.shape(sequence);
    if (kept.length !== kvHeads) {
      throw new AllocatorError('INVALID_PLAN', `compact: expected a kept-index list for each of ${kvHeads} KV heads, got ${kept.length}.`);
    }
    const total = kept.reduce((sum, list) => sum + list.length, 0);
    const { allocator } = this;
    const [counts, indices] = allocator.scratch.regions(kvHeads * 4, total * 4) as [number, number];
    const countView = allocator.i32(counts, kvHeads);
    const indexView = allocator.i32(indices, total);
    let offset = 0;
    kept.forEach((list, head) => {
      countView[head] = list.length;
      indexView.set(list, offset);
      offset += list.length;
    });
    return check(allocator.exports.adakv_compact(this.live(), sequence, layer, counts, indices), 'compact');
  }

  /** Rows held by (`sequence`, `layer`, KV `head`). */
  length(sequence: number, layer: number, head: number): number {
    return check(this.allocator.exports.adakv_length(this.live(), sequence, layer, head), 'length');
  }

  /** One head's keys, `[length][headDim]` (a copy; decoded to f32: the values attention reads). */
  keys(sequence: number, layer: number, head: number): Float32Array {
    return this.readRows(sequence, layer, head, ROW_KEYS);
  }

  /** One head's values, `[length][headDim]` (a copy; decoded to f32: the values attention reads). */
  values(sequence: number, layer: number, head: number): Float32Array {
    return this.readRows(sequence, layer, head, ROW_VALUES);
  }

  /** One head's original positions, in storage order (a copy). */
  positions(sequence: number, layer: number, head: number): Int32Array {
    const length = this.length(sequence, layer, head);
    const [out] = this.allocator.scratch.regions(length * 4) as [number];
    check(this.allocator.exports.adakv_read_positions(this.handle, sequence, layer, head, out), 'positions');
    return this.allocator.i32(out, length).slice();
  }

  /**
   * Decode attention of one token: `queries` `[queryHeads][headDim]` (queryHeads a multiple of the
   * sequence's kvHeads) -> `out` `[queryHeads][headDim]`, softmax(qK^T/sqrt(d))V per query head.
   */
  attend(sequence: number, layer: number, queries: Float32Array, out: Float32Array): void {
    this.shape(sequence);
    const floats = queries.length;
    if (floats === 0 || floats % this.headDim !== 0 || out.length !== floats) {
      throw new AllocatorError('INVALID_ARGUMENT', `attend: queries must hold queryHeads x ${this.headDim} floats and out as many, got ${queries.length} and ${out.length}.`);
    }
    const { allocator } = this;
    const [q, o] = allocator.scratch.regions(floats * 4, floats * 4) as [number, number];
    allocator.f32(q, floats).set(queries);
    check(allocator.exports.adakv_attend(this.live(), sequence, layer, floats / this.headDim, q, o), 'attend');
    out.set(allocator.f32(o, floats));
  }

  /**
   * Causal (prefill) attention over the paged cache: `queries` `[rows][queryHeads][headDim]`, row `t`
   * attending over the first `start + t + 1` rows of each KV head of `layer` (each head must hold at
   * least `start + rows`), softmax(qK^T/sqrt(d))V per query head into `out` (shaped as `queries`).
   * Row `t` is computed exactly as {@link attend} over a head of `start + t + 1` rows.
   */
  attendCausal(sequence: number, layer: number, queries: Float32Array, out: Float32Array, rows: number, start = 0): void {
    this.shape(sequence);
    const floats = queries.length;
    if (!Number.isInteger(rows) || rows <= 0 || floats === 0 || floats % (rows * this.headDim) !== 0 || out.length !== floats) {
      throw new AllocatorError('INVALID_ARGUMENT', `attendCausal: queries must hold ${rows} rows of queryHeads x ${this.headDim} floats and out as many, got ${queries.length} and ${out.length}.`);
    }
    if (!Number.isInteger(start) || start < 0) throw new AllocatorError('INVALID_ARGUMENT', `attendCausal: start must be an integer >= 0, got ${start}.`);
    const { allocator } = this;
    const [q, o] = allocator.scratch.regions(floats * 4, floats * 4) as [number, number];
    allocator.f32(q, floats).set(queries);
    check(allocator.exports.adakv_attend_causal(this.live(), sequence, layer, floats / rows / this.headDim, rows, start, q, o), 'attendCausal');
    out.set(allocator.f32(o, floats));
  }

  /** The cu_seqlens-style view of one layer (copies of the tables; addresses point into live memory). */
  flatten(sequence: number, layer: number): FlatLayerView {
    const { kvHeads } = this.shape(sequence);
    const { allocator } = this;
    const blocks = check(allocator.exports.adakv_layer_blocks(this.live(), sequence, layer), 'flatten');
    const [cuSeqlens, cuBlocks, table, addresses] = allocator.scratch.regions((kvHeads + 1) * 4, (kvHeads + 1) * 4, blocks * 4, blocks * 4) as [number, number, number, number];
    check(allocator.exports.adakv_flatten(this.handle, sequence, layer, cuSeqlens, cuBlocks, table, addresses), 'flatten');
    return {
      cuSeqlens: allocator.i32(cuSeqlens, kvHeads + 1).slice(),
      cuBlocks: allocator.i32(cuBlocks, kvHeads + 1).slice(),
      blockTable: allocator.i32(table, blocks).slice(),
      blockAddresses: allocator.u32(addresses, blocks).slice(),
    };
  }

  /** What the pool holds now. */
  stats(): PoolStats {
    const [out] = this.allocator.scratch.regions(POOL_STAT_COUNT * 8) as [number];
    check(this.allocator.exports.adakv_pool_stats(this.live(), out), 'stats');
    return poolStatsFrom(this.allocator.f64(out, POOL_STAT_COUNT));
  }

  /** What `sequence` holds now. */
  sequenceStats(sequence: number): SequenceStats {
    const [out] = this.allocator.scratch.regions(SEQUENCE_STAT_COUNT * 8) as [number];
    check(this.allocator.exports.adakv_sequence_stats(this.live(), sequence, out), 'sequenceStats');
    return sequenceStatsFrom(this.allocator.f64(out, SEQUENCE_STAT_COUNT));
  }

  /** Throws INVARIANT_BROKEN unless every block is owned once or free and every table matches its length. */
  check(): void {
    check(this.allocator.exports.adakv_pool_check(this.live()), 'check');
  }

  /** Frees the pool and every sequence in it; the pool must not be used afterwards. */
  dispose(): void {
    if (this.handle < 0) return;
    check(this.allocator.exports.adakv_pool_destroy(this.handle), 'dispose');
    this.handle = -1;
    this.shapes.clear();
  }

  /** Whether {@link BlockPool.dispose} ran. */
  get disposed(): boolean {
    return this.handle < 0;
  }

  /** The pool's handle in the C ABI, for calls into the same WebAssembly instance (the engine's). */
  get nativeHandle(): number {
    return this.live();
  }

  private readRows(sequence: number, layer: number, head: number, kind: number): Float32Array {
    const floats = this.length(sequence, layer, head) * this.headDim;
    const [out] = this.allocator.scratch.regions(floats * 4) as [number];
    check(this.allocator.exports.adakv_read_rows(this.handle, sequence, layer, head, kind, out), 'read');
    return this.allocator.f32(out, floats).slice();
  }

  private live(): number {
    if (this.handle < 0) throw new AllocatorError('INVALID_HANDLE', 'This BlockPool was disposed: create a new one.');
    return this.handle;
  }

  private shape(sequence: number): SequenceShape {
    this.live();
    const shape = this.shapes.get(sequence);
    if (!shape) {
      throw new AllocatorError('INVALID_HANDLE', `Sequence handle ${sequence} is not live in this pool (removed, or from another pool): add a sequence first.`);
    }
    return shape;
  }
}
