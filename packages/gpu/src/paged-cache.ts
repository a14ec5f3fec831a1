import { type GpuContext, largestStorageBuffer } from './device.js';
import type { Dispatcher } from './dispatcher.js';
import { GpuError, mib } from './errors.js';
import { decodeHalves } from './half.js';
import { type EvictionOptions, evictionScores, planEviction } from './eviction.js';
import { type GpuKvFormat, GpuKvPool, type HeadPages, type PagedCacheShape, type QueryRing, kvReaders } from './kv-pool.js';
import { encodeQuantizedAppend, encodeQuantizedCompact, readQuantizedRows, residualsNeeded } from './quantized-kv.js';

/** WebGPU's default `maxComputeWorkgroupsPerDimension`. */
const MAX_GROUPS = 65535;
/** Query heads of a GQA group one `paged-attention` workgroup attends for (a larger group takes several). */
const GROUP_CHUNK = 8;
/** Query rows one `causal-attention` workgroup attends for. */
const CAUSAL_BLOCK = 8;

const blocksFor = (length: number, blockSize: number): number => Math.ceil(length / blockSize);


/**
 * Paged K/V storage for one sequence on the GPU: per (layer, KV head) a block table and the original
 * position of every row, blocks of `blockSize` rows in a {@link GpuKvPool}'s K and V buffers (one per
 * layer). `new GpuPagedCache(gpu, shape)` makes a sequence with a private pool of its own (growing,
 * capped by `maxLayerBytes`); `GpuPagedCache.inPool(pool)` makes one that shares its pool with others.
 * Append and compaction are kernels (scatter, gather); decode attention is flash-decoding over the
 * block tables; decode-time eviction can be planned where the data lives ({@link planEviction}).
 */
export class GpuPagedCache {
  /** The pool the sequence's blocks come from. */
  readonly pool: GpuKvPool;
  /** The shape the sequence was made with. */
  readonly shape: PagedCacheShape;
  private readonly ownsPool: boolean;
  /** [layer][KV head] */
  private readonly tables: HeadPages[][];
  /** Per layer, the newest position of the last append: the position of the query that attends next. */
  private readonly newest: Int32Array;
  private rings: (QueryRing | null)[];
  private destroyed = false;

  /**
   * A sequence with a private pool (`new GpuPagedCache(gpu, shape)`). `pool` is for
   * {@link GpuPagedCache.inPool}, which passes it: use that to share a pool.
   */
  constructor(gpu: GpuContext, shape: PagedCacheShape, pool?: GpuKvPool) {
    this.ownsPool = pool === undefined;
    this.pool = pool ?? new GpuKvPool(gpu, { ...shape, maxBlocks: undefined });
    this.shape = shape;
    const { layers, kvHeads } = this.pool.shape;
    this.tables = Array.from({ length: layers }, () => Array.from({ length: kvHeads }, () => ({ blocks: [], positions: [] })));
    this.newest = new Int32Array(layers).fill(-1);
    this.rings = new Array<QueryRing | null>(layers).fill(null);
    this.pool.adopt(this);
  }

  /** A new, empty sequence whose blocks come from `pool` (sequences of one pool can decode in one batch). */
  static inPool(pool: GpuKvPool): GpuPagedCache {
    pool.check();
    return new GpuPagedCache(pool.gpu, pool.shape, pool);
  }

  /** The dispatcher of the pool: every sequence of a pool encodes into the same command stream. */
  get dispatcher(): Dispatcher {
    return this.pool.dispatcher;
  }

  /** Tokens per block. */
  get blockSize(): number {
    return this.pool.blockSize;
  }

  /** How the pool stores K/V rows. */
  get kvFormat(): GpuKvFormat {
    return this.pool.kvFormat;
  }

  /** K + V bytes of one block. */
  get blockBytes(): number {
    return this.pool.blockBytes;
  }

  /** Most bytes one layer's K (or V) buffer of the pool may take. */
  get maxLayerBytes(): number {
    return this.pool.maxLayerBytes;
  }

  /** Blocks each layer of a growing pool starts with. */
  get initialBlocks(): number {
    return this.pool.initialBlocks;
  }

  /** GPU buffers this sequence holds: its private pool's K and V (2 per layer), and its query rings. */
  get liveBuffers(): number {
    return (this.ownsPool ? this.pool.liveBuffers : 0) + this.rings.filter((ring) => ring !== null).length;
  }

  /** Set when the pool ran out of device memory; every later use throws DEVICE_OUT_OF_MEMORY. */
  get outOfMemory(): string | null {
    return this.pool.outOfMemory;
  }

  /** Bytes of one stored K (or V) row. */
  private get rowBytes(): number {
    return this.pool.rowBytes;
  }

  private check(layer: number, head = 0): HeadPages[] {
    if (this.destroyed) throw new GpuError('INVALID_ARGUMENT', 'This GPU cache was destroyed.');
    this.pool.check();
    const tables = this.tables[layer];
    if (!tables || !Number.isInteger(head) || head < 0 || head >= this.pool.shape.kvHeads) {
      throw new GpuError('INVALID_ARGUMENT', `No layer ${layer} / KV head ${head} (the cache has ${this.pool.shape.layers} x ${this.pool.shape.kvHeads}).`);
    }
    return tables;
  }

  /** Rows held by (`layer`, KV `head`). */
  length(layer: number, head: number): number {
    return this.check(layer, head)[head]!.positions.length;
  }

  /** The original position of each row of (`layer`, KV `head`), in storage order. */
  positions(layer: number, head: number): Int32Array {
    return Int32Array.from(this.check(layer, head)[head]!.positions);
  }

  private slot(pages: HeadPages, row: number): number {
    return pages.blocks[Math.floor(row / this.blockSize)]! * this.blockSize + (row % this.blockSize);
  }

  /**
   * Appends tokens to every KV head of `layer`: keys/values `[tokens][kvHeads][headDim]`, positions
   * `[tokens]`, or `[tokens][kvHeads]` when each head's rows carry their own (heads keeping different tokens).
   */
  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    const tables = this.check(layer);
    const { kvHeads, headDim } = this.pool.shape;
    const tokens = keys.length / (kvHeads * headDim);
    const perHead = kvHeads > 1 && positions.length === tokens * kvHeads;
    if (!Number.isInteger(tokens) || values.length !== keys.length || (positions.length !== tokens && !perHead)) {
      throw new GpuError(
        'INVALID_ARGUMENT',
        `append: ${positions.length} positions need ${positions.length * kvHeads * headDim} floats of keys and values ([tokens][${kvHeads}][${headDim}]), got ${keys.length} and ${values.length}.`,
      );
    }
    if (tokens === 0) return;
    // rows go in with one position per token (each token's newest); per-head positions are bookkeeping
    const shared = perHead ? Int32Array.from({ length: tokens }, (_, t) => Math.max(...positions.subarray(t * kvHeads, (t + 1) * kvHeads))) : positions;
    const d = this.dispatcher;
    const usage = GPUBufferUsage.STORAGE;
    this.encodeAppend(layer, d.temp(keys.byteLength, usage, keys), d.temp(values.byteLength, usage, values), shared);
    d.submit();
    if (!perHead) return;
    tables.forEach((pages, h) => {
      const first = pages.positions.length - tokens;
      for (let t = 0; t < tokens; t++) pages.positions[first + t] = positions[t * kvHeads + h]!;
    });
  }

  /**
   * Encodes an append of rows that are already on the GPU (`[tokens][kvHeads][headDim]` in `keys` and
   * `values`), without submitting: the GPU forward pass appends this way.
   */
  encodeAppend(layer: number, keys: GPUBuffer, values: GPUBuffer, positions: Int32Array): void {
    GpuPagedCache.encodeAppendRows(layer, Array.from(positions, () => this), keys, values, positions);
  }

  /**
   * Blocks layer `layer` of the pool must have free to append `tokens[i]` tokens to every KV head of
   * `caches[i]` (caches may repeat).
   */
  static blocksNeeded(layer: number, caches: readonly GpuPagedCache[], tokens: ArrayLike<number>): number {
    const perCache = new Map<GpuPagedCache, number>();
    caches.forEach((cache, i) => perCache.set(cache, (perCache.get(cache) ?? 0) + tokens[i]!));
    let needed = 0;
    for (const [cache, count] of perCache) {
      for (const pages of cache.check(layer)) needed += blocksFor(pages.positions.length + count, cache.blockSize) - blocksFor(pages.positions.length, cache.blockSize);
    }
    return needed;
  }

  /**
   * Residual slots (int8 / int4 pools: f32 rows of partly filled last blocks) layer `layer` of the pool
   * must have free to append `tokens[i]` tokens to every KV head of `caches[i]`; 0 for f32 / f16.
   */
  static residualsNeeded(layer: number, caches: readonly GpuPagedCache[], tokens: ArrayLike<number>): number {
    const pool = caches[0]?.pool;
    if (!pool?.quantized) return 0;
    const perHead = new Map<HeadPages, number>();
    caches.forEach((cache, i) => {
      for (const pages of cache.check(layer)) perHead.set(pages, (perHead.get(pages) ?? 0) + tokens[i]!);
    });
    return residualsNeeded(perHead, pool.blockSize);
  }

  /**
   * Reserves, for every layer of the pool at once, the blocks (and residual slots) appending
   * `tokens[i]` tokens to `caches[i]` takes in its first `layers` layers: a refusal (POOL_EXHAUSTED,
   * DEVICE_OUT_OF_MEMORY) changes nothing.
   */
  static reserveAppend(layers: number, caches: readonly GpuPagedCache[], tokens: ArrayLike<number>): void {
    const pool = caches[0]!.pool;
    const all = pool.shape.layers;
    pool.reserve(
      Array.from({ length: all }, (_, l) => (l < layers ? GpuPagedCache.blocksNeeded(l, caches, tokens) : 0)),
      Array.from({ length: all }, (_, l) => (l < layers ? GpuPagedCache.residualsNeeded(l, caches, tokens) : 0)),
    );
  }

  /**
   * Encodes, without submitting, an append of one token per row: row `i` of `keys` and `values`
   * (`[rows][kvHeads][headDim]` on the GPU) goes to every KV head of `caches[i]` at `positions[i]`.
   * The caches must share a pool (they may repeat: a prompt's tokens all go to one cache). One scatter
   * dispatch for all of them; the blocks are reserved first, so a refusal (POOL_EXHAUSTED,
   * DEVICE_OUT_OF_MEMORY) changes nothing. In an int8 / int4 pool the rows go to f32 (each head's
   * residual slot, or staging rows for blocks that fill within the append) and every block that fills
   * is encoded by `kv-encode` in the same command stream, as the WASM pool appends.
   */
  static encodeAppendRows(layer: number, caches: readonly GpuPagedCache[], keys: GPUBuffer, values: GPUBuffer, positions: ArrayLike<number>): void {
    if (caches.length === 0) return;
    const pool = GpuPagedCache.samePool(caches, 'append');
    if (positions.length !== caches.length) throw new GpuError('INVALID_ARGUMENT', `append: ${caches.length} rows need as many positions, got ${positions.length}.`);
    for (let i = 0; i < positions.length; i++) {
      if (!Number.isInteger(positions[i])) throw new GpuError('INVALID_ARGUMENT', `append: positions must be integers, got ${positions[i]} at ${i}.`);
    }
    const { kvHeads, headDim } = pool.shape;
    const needs = new Array<number>(pool.shape.layers).fill(0);
    const ones = new Array<number>(caches.length).fill(1);
    needs[layer] = GpuPagedCache.blocksNeeded(layer, caches, ones);
    const residuals = new Array<number>(pool.shape.layers).fill(0);
    residuals[layer] = GpuPagedCache.residualsNeeded(layer, caches, ones);
    pool.reserve(needs, residuals);
    if (pool.quantized) {
      const heads: HeadPages[] = [];
      caches.forEach((cache) => heads.push(...cache.tables[layer]!));
      const appended = new Map<GpuPagedCache, number>();
      caches.forEach((cache, t) => appended.set(cache, Math.max(appended.get(cache) ?? positions[t]!, positions[t]!)));
      for (const [cache, newest] of appended) cache.newest[layer] = newest;
      encodeQuantizedAppend(pool, layer, heads, keys, values, Array.from({ length: heads.length }, (_, i) => positions[Math.floor(i / kvHeads)]!));
      return;
    }
    const slots = new Uint32Array(caches.length * kvHeads);
    const appended = new Map<GpuPagedCache, number>();
    caches.forEach((cache, t) => {
      const position = positions[t]!;
      for (let h = 0; h < kvHeads; h++) {
        const pages = cache.tables[layer]![h]!;
        if (pages.positions.length % cache.blockSize === 0) pages.blocks.push(pool.take(layer));
        pages.positions.push(position);
        slots[t * kvHeads + h] = cache.slot(pages, pages.positions.length - 1);
      }
      appended.set(cache, Math.max(appended.get(cache) ?? position, position));
    });
    for (const [cache, newest] of appended) cache.newest[layer] = newest;
    const d = pool.dispatcher;
    const rows = slots.length;
    const f16 = pool.kvFormat === 'f16';
    const storage = pool.layers[layer]!;
    d.run(f16 ? 'scatterRowsF16' : 'scatterRows', { headDim, rows }, [keys, values, d.temp(slots.byteLength, GPUBufferUsage.STORAGE, slots), storage.keys, storage.values], { threads: (rows * headDim) / (f16 ? 2 : 1) });
  }

  /**
   * Keeps, per KV head, the rows listed in `kept[head]` (strictly ascending). Compaction is in place:
   * the survivors move to the head's first rows (through a staging buffer, so sources and
   * destinations never alias) and the blocks past them go back to the pool; it takes no free block,
   * so a full pool can always evict. In an int8 / int4 pool, as the WASM pool compacts: the blocks
   * from the first whose rows change are re-encoded over the rows they keep (a partly filled last
   * block included), and the head's f32 residual goes; keeping a prefix moves nothing.
   */
  compact(layer: number, kept: readonly Int32Array[]): void {
    const tables = this.check(layer);
    if (kept.length !== this.pool.shape.kvHeads) throw new GpuError('INVALID_ARGUMENT', `compact: one index list per KV head (${this.pool.shape.kvHeads}), got ${kept.length}.`);
    kept.forEach((indices, h) => {
      const length = tables[h]!.positions.length;
      indices.forEach((index, i) => {
        if (!Number.isInteger(index) || index < 0 || index >= length || (i > 0 && index <= indices[i - 1]!)) {
          throw new GpuError('INVALID_ARGUMENT', `compact: head ${h} indices must be strictly ascending in [0, ${length}); got ${index} at ${i}.`);
        }
      });
    });
    if (this.pool.quantized) {
      this.pool.release(layer, encodeQuantizedCompact(this.pool, layer, tables, kept));
      this.dispatcher.submit();
      return;
    }
    const moves: number[] = [];
    const released: number[] = [];
    kept.forEach((indices, h) => {
      const pages = tables[h]!;
      if (indices.length === pages.positions.length) return; // everything kept
      for (let i = 0; i < indices.length; i++) {
        if (indices[i] !== i) moves.push(this.slot(pages, indices[i]!), this.slot(pages, i));
      }
      pages.positions = Array.from(indices, (index) => pages.positions[index]!);
      released.push(...pages.blocks.splice(blocksFor(indices.length, this.blockSize)));
    });
    if (moves.length > 0) {
      const d = this.dispatcher;
      const rows = moves.length / 2;
      const words = this.rowBytes / 4; // rows move as 32-bit words, whatever the format
      const storage = this.pool.layers[layer]!;
      const usage = GPUBufferUsage.STORAGE;
      const [stagedKeys, stagedValues] = [d.temp(rows * this.rowBytes, usage), d.temp(rows * this.rowBytes, usage)];
      const out = new Uint32Array(moves.length);
      const back = new Uint32Array(moves.length);
      for (let i = 0; i < rows; i++) {
        out[2 * i] = moves[2 * i]!;
        out[2 * i + 1] = i;
        back[2 * i] = i;
        back[2 * i + 1] = moves[2 * i + 1]!;
      }
      d.run('gatherRows', { headDim: words, rows }, [d.temp(out.byteLength, usage, out), storage.keys, storage.values, stagedKeys, stagedValues], { threads: rows * words });
      d.run('gatherRows', { headDim: words, rows }, [d.temp(back.byteLength, usage, back), stagedKeys, stagedValues, storage.keys, storage.values], { threads: rows * words });
      d.submit();
    }
    this.pool.release(layer, released);
  }

  /** softmax(q K^T / sqrt(d)) V for each query head over the layer's cached rows (`[queryHeads][headDim]`). */
  async attend(layer: number, queries: Float32Array): Promise<Float32Array> {
    const { queryHeads, headDim } = this.pool.shape;
    this.check(layer);
    if (queries.length !== queryHeads * headDim) throw new GpuError('INVALID_ARGUMENT', `attend: expected ${queryHeads * headDim} query floats, got ${queries.length}.`);
    const d = this.dispatcher;
    const out = d.temp(queryHeads * headDim * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    this.encodeAttend(layer, d.temp(queries.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, queries), out);
    return new Float32Array(await d.read(out, queryHeads * headDim * 4));
  }

  /**
   * Encodes decode attention of `queries` (`[queryHeads][headDim]` on the GPU) into `out`, without
   * submitting; records the query row when {@link recordQueries} is on (a copy: `queries` then needs
   * COPY_SRC usage).
   */
  encodeAttend(layer: number, queries: GPUBuffer, out: GPUBuffer): void {
    GpuPagedCache.encodeAttendBatch(layer, [this], queries, out);
  }

  /**
   * Encodes decode attention for a batch of sequences of one pool in one flash-decoding dispatch
   * (grid: splits x KV heads x sequences) and one reduce: row `i` of `queries` (`[batch][queryHeads][headDim]`)
   * attends over `caches[i]`'s rows into row `i` of `out`. Row `i` gets exactly what `caches[i].encodeAttend`
   * computes alone. Records each cache's query row when its {@link recordQueries} is on (`queries`
   * then needs COPY_SRC usage).
   */
  static encodeAttendBatch(layer: number, caches: readonly GpuPagedCache[], queries: GPUBuffer, out: GPUBuffer): void {
    if (caches.length === 0) return;
    const pool = GpuPagedCache.samePool(caches, 'attend');
    const { queryHeads, kvHeads, headDim } = pool.shape;
    const batch = caches.length;
    if (batch * queryHeads > MAX_GROUPS) throw new GpuError('INVALID_ARGUMENT', `attend: ${batch} sequences x ${queryHeads} query heads exceed one dispatch (${MAX_GROUPS}); split the batch.`);
    const splitRows = 128;
    const heads = caches.map((cache) => cache.check(layer));
    let maxBlocks = 1;
    let maxLength = 0;
    for (const tables of heads) {
      for (const pages of tables) {
        maxBlocks = Math.max(maxBlocks, pages.blocks.length);
        maxLength = Math.max(maxLength, pages.positions.length);
      }
    }
    const tables = new Uint32Array(batch * kvHeads * maxBlocks);
    const lengths = new Uint32Array(batch * kvHeads);
    heads.forEach((sequence, i) => sequence.forEach((pages, h) => {
      tables.set(pages.blocks, (i * kvHeads + h) * maxBlocks);
      lengths[i * kvHeads + h] = pages.positions.length;
    }));
    const splits = Math.max(1, Math.ceil(maxLength / splitRows));
    const partialBytes = batch * queryHeads * splits * (headDim + 2) * 4;
    if (partialBytes > largestStorageBuffer(pool.gpu)) {
      throw new GpuError('INVALID_ARGUMENT', `attend: the partial results of ${batch} sequences of up to ${maxLength} rows take ${mib(partialBytes)}, more than one storage binding; split the batch.`);
    }
    const d = pool.dispatcher;
    const usage = GPUBufferUsage.STORAGE;
    const partials = d.temp(partialBytes, usage);
    const storage = pool.layers[layer]!;
    const groupSize = queryHeads / kvHeads;
    d.run(
      kvReaders(pool.kvFormat).attend,
      { headDim, groupSize, blockSize: pool.blockSize, maxBlocks, splitRows, splits, scale: 1 / Math.sqrt(headDim) },
      [storage.keys, storage.values, queries, d.temp(tables.byteLength, usage, tables), d.temp(lengths.byteLength, usage, lengths), partials, ...(pool.quantized ? [storage.residualKeys, storage.residualValues] : [])],
      { x: splits, y: kvHeads * Math.ceil(groupSize / GROUP_CHUNK), z: batch }, // a workgroup per 8 query heads of a group
    );
    d.run('attentionReduce', { headDim, splits, queryHeads: batch * queryHeads }, [partials, out], { x: batch * queryHeads });
    caches.forEach((cache, i) => cache.recordQuery(layer, queries, i * queryHeads * headDim * 4));
  }

  /**
   * Whether every KV head of `layer` holds exactly the positions `0 .. n-1`, in storage order: what a
   * chunked prefill continues from (checked by each head's length and its first and last position, as
   * appends in order and compactions, which keep the order, leave them).
   */
  holdsPrefix(layer: number, n: number): boolean {
    return this.check(layer).every(({ positions }) => positions.length === n && (n === 0 || (positions[0] === 0 && positions[n - 1] === n - 1)));
  }

  /**
   * Encodes, without submitting, the causal attention of a chunk of a prompt over this sequence: row
   * `t` of `queries` (`[tokens][queryHeads][headDim]` on the GPU, at position `start + t`) attends over
   * the layer's rows at positions `0 .. start + t` into row `t` of `out` (shaped as `queries`). Every
   * KV head must hold exactly the positions `0 .. start + tokens - 1` (the chunk's K/V appended after
   * the earlier ones'; else INVALID_ARGUMENT). K/V are read in place through the block tables
   * (`causal-attention` over the `causal-paged` prelude), in the cache's storage format.
   */
  encodeCausalAttend(layer: number, queries: GPUBuffer, out: GPUBuffer, start: number, tokens: number): void {
    const heads = this.check(layer);
    const { queryHeads, kvHeads, headDim } = this.pool.shape;
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(tokens) || tokens < 1) {
      throw new GpuError('INVALID_ARGUMENT', `causal attention: start must be an integer >= 0 and tokens one >= 1, got ${start} and ${tokens}.`);
    }
    if (!this.holdsPrefix(layer, start + tokens)) {
      throw new GpuError('INVALID_ARGUMENT', `causal attention: every KV head of layer ${layer} must hold exactly positions 0..${start + tokens - 1} in order (append the chunk's K/V first; a compacted cache cannot continue a prefill).`);
    }
    if (headDim > 256 || Math.ceil(tokens / CAUSAL_BLOCK) > MAX_GROUPS || queryHeads > MAX_GROUPS) {
      throw new GpuError('INVALID_ARGUMENT', `causal attention: needs head dim <= 256 and at most ${MAX_GROUPS * CAUSAL_BLOCK} query rows; got ${headDim} and ${tokens}.`);
    }
    const maxBlocks = Math.max(1, ...heads.map((pages) => pages.blocks.length));
    const tables = new Uint32Array(kvHeads * maxBlocks);
    heads.forEach((pages, h) => tables.set(pages.blocks, h * maxBlocks));
    const d = this.dispatcher;
    const storage = this.pool.layers[layer]!;
    d.run(
      kvReaders(this.kvFormat).causal,
      { headDim, queryHeads, kvHeads, tokens, scale: 1 / Math.sqrt(headDim), start, blockSize: this.blockSize, maxBlocks },
      [queries, storage.keys, storage.values, out, d.temp(tables.byteLength, GPUBufferUsage.STORAGE, tables), ...(this.pool.quantized ? [null, storage.residualKeys, storage.residualValues] : [])],
      { x: queryHeads, y: Math.ceil(tokens / CAUSAL_BLOCK) },
    );
  }

  private static samePool(caches: readonly GpuPagedCache[], what: string): GpuKvPool {
    const pool = caches[0]!.pool;
    if (caches.some((cache) => cache.pool !== pool)) {
      throw new GpuError('INVALID_ARGUMENT', `${what}: every sequence of a batch must belong to the same GpuKvPool (create them with GpuPagedCache.inPool(pool)).`);
    }
    return pool;
  }

  /**
   * Keeps the last `rows` query rows of every layer on the GPU from now on: each decode attention of
   * this sequence ({@link encodeAttend}, {@link attend}, the batched decode) copies its query row
   * `[queryHeads][headDim]` into the layer's ring, with the position of the layer's last append. What
   * {@link planEviction} scores with. Calling it again starts empty rings; `rows = 0` stops recording.
   */
  recordQueries(rows: number): void {
    this.check(0);
    if (!Number.isInteger(rows) || rows < 0) throw new GpuError('INVALID_ARGUMENT', `recordQueries: rows must be a non-negative integer, got ${rows}.`);
    const { queryHeads, headDim } = this.pool.shape;
    const bytes = rows * queryHeads * headDim * 4;
    if (bytes > largestStorageBuffer(this.pool.gpu)) throw new GpuError('INVALID_ARGUMENT', `recordQueries: ${rows} rows take ${mib(bytes)}, more than one storage binding.`);
    this.dropRings();
    if (rows === 0) return;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.rings = this.rings.map(() => ({ buffer: this.pool.gpu.device.createBuffer({ size: bytes, usage }), rows, positions: new Int32Array(rows), count: 0, next: 0 }));
  }

  /**
   * Seeds `layer`'s ring with the last rows of `queries` (`[n][queryHeads][headDim]`, post-RoPE,
   * oldest first: a prompt's queries after prefill) at `positions` (`[n]`), as if they had been
   * recorded in that order. Encoded in command order, like a recorded row.
   */
  seedQueries(layer: number, queries: Float32Array, positions: Int32Array): void {
    this.check(layer);
    const ring = this.rings[layer];
    if (!ring) throw new GpuError('INVALID_ARGUMENT', 'seedQueries: call recordQueries(rows) first.');
    const rowFloats = this.pool.shape.queryHeads * this.pool.shape.headDim;
    const n = positions.length;
    if (queries.length !== n * rowFloats) throw new GpuError('INVALID_ARGUMENT', `seedQueries: ${n} positions need ${n * rowFloats} query floats, got ${queries.length}.`);
    if (positions.some((position) => !Number.isInteger(position))) throw new GpuError('INVALID_ARGUMENT', 'seedQueries: positions must be integers.');
    const first = Math.max(0, n - ring.rows);
    if (first === n) return;
    const rows = queries.subarray(first * rowFloats);
    const staged = this.dispatcher.temp(rows.byteLength, GPUBufferUsage.COPY_SRC, rows);
    for (let r = first; r < n; r++) this.pushRow(ring, staged, (r - first) * rowFloats * 4, positions[r]!);
  }

  /**
   * {@link seedQueries} from the GPU: encodes, in command order, copying the last rows of `queries`
   * (`[n][queryHeads][headDim]` on the GPU, oldest first, COPY_SRC usage) into `layer`'s ring at
   * `positions` (`[n]`), as if each had been recorded in turn (the ring keeps its last rows). Nothing
   * when {@link recordQueries} is off. A chunked prefill records its query rows this way.
   */
  encodeRecordQueries(layer: number, queries: GPUBuffer, positions: ArrayLike<number>): void {
    this.check(layer);
    const ring = this.rings[layer];
    if (!ring) return;
    const rowBytes = this.pool.shape.queryHeads * this.pool.shape.headDim * 4;
    const first = Math.max(0, positions.length - ring.rows);
    for (let r = first; r < positions.length; r++) {
      if (!Number.isInteger(positions[r])) throw new GpuError('INVALID_ARGUMENT', `encodeRecordQueries: positions must be integers, got ${positions[r]} at ${r}.`);
    }
    for (let r = first; r < positions.length; r++) this.pushRow(ring, queries, r * rowBytes, positions[r]!);
  }

  /** Query rows `layer`'s ring holds now (0 when {@link recordQueries} is off). */
  recentQueryCount(layer: number): number {
    this.check(layer);
    return this.rings[layer]?.count ?? 0;
  }

  private recordQuery(layer: number, queries: GPUBuffer, offset: number): void {
    const ring = this.rings[layer];
    if (ring) this.pushRow(ring, queries, offset, this.newest[layer]!);
  }

  private pushRow(ring: QueryRing, source: GPUBuffer, offset: number, position: number): void {
    const rowBytes = this.pool.shape.queryHeads * this.pool.shape.headDim * 4;
    this.dispatcher.copy(source, offset, ring.buffer, ring.next * rowBytes, rowBytes);
    ring.positions[ring.next] = position;
    ring.next = (ring.next + 1) % ring.rows;
    ring.count = Math.min(ring.count + 1, ring.rows);
  }

  private dropRings(): void {
    for (const ring of this.rings) if (ring) this.dispatcher.retire(ring.buffer); // destroyed once queued work that reads it is submitted
    this.rings = this.rings.map(() => null);
    this.dispatcher.submit();
  }

  /**
   * Plans decode-time eviction of `layer` where the data lives: from the layer's recorded queries
   * ({@link recordQueries}) and its keys read in place through the block tables, the GPU computes the
   * scores of each head's selectable rows (all but its last `min(protectedCount, length)`), the head
   * allocation (Ada-KV counts and safeguard, or uniform) and each head's top-k; only the kept indices
   * come back. Returns per KV head the rows to keep, ascending, protected tail included: what
   * {@link compact} takes (compact before appending again: the indices are today's rows). The plan is
   * the core reference's (`planLayer` with the SnapKV or H2O scorer, causal by position); the scores
   * agree with its f32 ones within about 1e-6 relative, so entries that close to the cut may swap.
   * Everything is kept, with no GPU work, when the selectable rows fit `kvHeads x selectable`.
   */
  planEviction(layer: number, options: EvictionOptions): Promise<Int32Array[]> {
    try {
      return planEviction({ pool: this.pool, heads: this.check(layer), ring: this.rings[layer] ?? null }, layer, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The scores {@link planEviction} ranks: per KV head, one per selectable row (for metrics and tests). */
  evictionScores(layer: number, options: EvictionOptions): Promise<Float32Array[]> {
    try {
      return evictionScores({ pool: this.pool, heads: this.check(layer), ring: this.rings[layer] ?? null }, layer, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `layer`'s recorded query rows read back, oldest first (`[count][queryHeads][headDim]`) with their
   * positions: for inspection and for planners without GPU kernels (the eviction kernels read the ring in place).
   */
  async recentQueries(layer: number): Promise<{
    /** The query rows, oldest first. */
    queries: Float32Array;
    /** The position of each query row. */
    positions: Int32Array;
  }> {
    this.check(layer);
    const ring = this.rings[layer];
    if (!ring || ring.count === 0) return { queries: new Float32Array(0), positions: new Int32Array(0) };
    const rowBytes = this.pool.shape.queryHeads * this.pool.shape.headDim * 4;
    const first = (ring.next - ring.count + ring.rows) % ring.rows;
    const d = this.dispatcher;
    const gathered = d.temp(ring.count * rowBytes, GPUBufferUsage.COPY_SRC);
    const positions = new Int32Array(ring.count);
    for (let i = 0; i < ring.count; i++) {
      const slot = (first + i) % ring.rows;
      d.copy(ring.buffer, slot * rowBytes, gathered, i * rowBytes, rowBytes);
      positions[i] = ring.positions[slot]!;
    }
    return { queries: new Float32Array(await d.read(gathered, ring.count * rowBytes)), positions };
  }

  /** One head's keys or values, `[length][headDim]`, read back from the GPU. */
  async rows(layer: number, head: number, kind: 'keys' | 'values'): Promise<Float32Array> {
    const pages = this.check(layer, head)[head]!;
    if (this.pool.quantized) return (await readQuantizedRows(this.pool, layer, pages))[kind];
    const rowBytes = this.rowBytes;
    const total = pages.positions.length * rowBytes;
    const d = this.dispatcher;
    const storage = this.pool.layers[layer]!;
    const gathered = d.temp(total, GPUBufferUsage.COPY_SRC);
    pages.blocks.forEach((block, b) => {
      const rows = Math.min(this.blockSize, pages.positions.length - b * this.blockSize);
      d.copy(kind === 'keys' ? storage.keys : storage.values, block * this.blockSize * rowBytes, gathered, b * this.blockSize * rowBytes, rows * rowBytes);
    });
    const bytes = await d.read(gathered, total);
    return this.kvFormat === 'f16' ? decodeHalves(bytes) : new Float32Array(bytes);
  }

  /**
   * Bytes of the blocks the sequence holds (K and V, partly filled blocks included), and in an int8 /
   * int4 pool of the f32 residual slots of its heads' partly filled last blocks.
   */
  bytes(): number {
    let blocks = 0;
    let residuals = 0;
    for (const layer of this.tables) {
      for (const pages of layer) {
        blocks += pages.blocks.length;
        if (pages.residual !== undefined) residuals++;
      }
    }
    return blocks * this.blockBytes + residuals * this.pool.residualSlotBytes;
  }

  /** Gives the sequence's blocks back to its pool (and frees a private pool); the cache can no longer be used. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (!this.pool.isDestroyed) {
      this.dropRings();
      this.tables.forEach((layer, l) => {
        for (const pages of layer) {
          this.pool.release(l, pages.blocks.splice(0));
          if (pages.residual !== undefined) this.pool.releaseResiduals(l, [pages.residual]);
          pages.residual = undefined;
        }
      });
    }
    this.pool.forget(this);
    if (this.ownsPool) this.pool.destroy();
  }
}
