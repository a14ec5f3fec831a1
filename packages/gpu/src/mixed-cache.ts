import type { GpuContext } from './device.js';
import { Dispatcher } from './dispatcher.js';
import { GpuError } from './errors.js';
import { GPU_KV_FORMATS, type GpuKvFormat, GpuKvPool } from './kv-pool.js';
import { GpuPagedCache } from './paged-cache.js';


/** The shape of a {@link GpuMixedCache}: a {@link GpuPagedCache}'s, with a format per layer and KV head. */
export interface MixedCacheShape {
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
  /** How each (layer, KV head) stores its K/V, `[layer][head]`. */
  readonly kvFormats: readonly (readonly GpuKvFormat[])[];
  /** Most bytes one layer's K (or V) buffer of each pool may take (as a one-format cache's). */
  readonly maxLayerBytes?: number;
}

/**
 * Where a {@link GpuMixedCache} takes the pool for `kvHeads` heads of one layer in `format` (one-layer
 * pools, `queryHeads` query heads over them, all encoding on one dispatcher). Pools may be shared by
 * many caches.
 */
export type MixedPoolSource = (kvHeads: number, queryHeads: number, format: GpuKvFormat) => GpuKvPool;

/** One layer's KV heads of one format: their indices, ascending, and the one-layer sequence holding them. */
interface FormatPart {
  readonly heads: readonly number[];
  readonly cache: GpuPagedCache;
}

/** Runs of consecutive KV heads, as [first, count]: one copy moves a run. */
function runsOf(heads: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const head of heads) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === head) last[1]++;
    else runs.push([head, 1]);
  }
  return runs;
}

/**
 * One sequence's K/V on the GPU with a format per layer and KV head: each layer's heads of one format
 * live in a one-layer {@link GpuPagedCache} of a pool of that format, so an int4 head pays only for
 * int4 blocks beside an f32 one. Appends and attention gather each format's heads' rows (copies in
 * command order), run that format's kernels, and put the outputs back in place: per head, exactly what
 * a cache of the head's format computes. Decodes alone (a batch of one); eviction is planned on the
 * CPU from its rows and recorded queries; it cannot continue a prefill (a one-format cache does).
 */
export class GpuMixedCache {
  /** The shape it was made with. */
  readonly shape: MixedCacheShape;
  /** The command stream every part encodes into. */
  readonly dispatcher: Dispatcher;
  /** Tokens per block. */
  readonly blockSize: number;
  /** Per layer, its heads grouped by format. */
  private readonly parts: FormatPart[][];
  /** Per layer and KV head, the part holding it and its index there. */
  private readonly where: { part: FormatPart; local: number }[][];
  private readonly ownedPools: GpuKvPool[] = [];
  private destroyed = false;

  /**
   * @param gpu The device.
   * @param shape The sequence's shape and each head's format.
   * @param pools Where the parts' pools come from (shared); by default the cache makes its own, one
   *   per head count and format, on a dispatcher of its own.
   */
  constructor(gpu: GpuContext, shape: MixedCacheShape, pools?: MixedPoolSource) {
    const { layers, queryHeads, kvHeads, headDim, kvFormats } = shape;
    for (const [name, value] of Object.entries({ layers, queryHeads, kvHeads, headDim })) {
      if (!Number.isInteger(value) || value <= 0) throw new GpuError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}.`);
    }
    if (queryHeads % kvHeads !== 0) throw new GpuError('INVALID_ARGUMENT', `queryHeads (${queryHeads}) must be a multiple of kvHeads (${kvHeads}).`);
    if (!Array.isArray(kvFormats) || kvFormats.length !== layers || kvFormats.some((row) => !Array.isArray(row) || row.length !== kvHeads)) {
      throw new GpuError('INVALID_ARGUMENT', `kvFormats must give a format for each of ${layers} layers x ${kvHeads} KV heads.`);
    }
    for (const format of kvFormats.flat()) {
      if (!GPU_KV_FORMATS.includes(format)) throw new GpuError('INVALID_ARGUMENT', `kvFormats: each format must be 'f32', 'f16', 'int8' or 'int4', got ${String(format)}.`);
    }
    this.shape = shape;
    const group = queryHeads / kvHeads;
    const source = pools ?? this.ownPools(gpu, shape);
    this.parts = [];
    this.where = [];
    try {
      for (let layer = 0; layer < layers; layer++) {
        const byFormat = new Map<GpuKvFormat, number[]>();
        kvFormats[layer]!.forEach((format: GpuKvFormat, head: number) => byFormat.set(format, [...(byFormat.get(format) ?? []), head]));
        const parts: FormatPart[] = [];
        const where: { part: FormatPart; local: number }[] = [];
        this.parts.push(parts); // before any part is made, so that destroy() finds it
        this.where.push(where);
        for (const [format, heads] of byFormat) {
          const part = { heads, cache: GpuPagedCache.inPool(source(heads.length, heads.length * group, format)) };
          parts.push(part);
          const { shape: got, kvFormat, dispatcher, blockSize } = part.cache;
          const first = this.parts[0]![0]!.cache;
          if (got.kvHeads !== heads.length || got.queryHeads !== heads.length * group || got.headDim !== headDim || kvFormat !== format || dispatcher !== first.dispatcher || blockSize !== first.blockSize) {
            throw new GpuError('INVALID_ARGUMENT', `The pool given for ${heads.length} ${format} heads of layer ${layer} does not fit: a mixed cache needs one-layer pools of each part's heads, format and head dim, of one block size, on one dispatcher.`);
          }
          heads.forEach((head, local) => (where[head] = { part, local }));
        }
      }
    } catch (error) {
      this.destroy();
      throw error;
    }
    const first = this.parts[0]![0]!.cache;
    this.dispatcher = first.dispatcher;
    this.blockSize = first.blockSize;
  }

  private ownPools(gpu: GpuContext, shape: MixedCacheShape): MixedPoolSource {
    const dispatcher = new Dispatcher(gpu);
    const made = new Map<string, GpuKvPool>();
    return (kvHeads, queryHeads, kvFormat) => {
      const key = `${kvHeads}/${kvFormat}`;
      let pool = made.get(key);
      if (!pool) {
        const { headDim, blockSize, maxLayerBytes } = shape;
        pool = new GpuKvPool(gpu, { layers: 1, kvHeads, queryHeads, headDim, blockSize, maxLayerBytes, kvFormat, dispatcher });
        made.set(key, pool);
        this.ownedPools.push(pool);
      }
      return pool;
    };
  }

  /** How (`layer`, `head`) stores its K/V. */
  kvFormat(layer: number, head: number): GpuKvFormat {
    return this.at(layer, head).part.cache.kvFormat;
  }

  /** Throws a typed error if the cache, a pool or the device can no longer be used. */
  check(): void {
    if (this.destroyed) throw new GpuError('INVALID_ARGUMENT', 'This GPU cache was destroyed.');
    for (const { cache } of this.parts.flat()) cache.pool.check();
  }

  private layerParts(layer: number): FormatPart[] {
    this.check();
    const parts = this.parts[layer];
    if (!Number.isInteger(layer) || !parts) throw new GpuError('INVALID_ARGUMENT', `No layer ${layer} (the cache has ${this.shape.layers}).`);
    return parts;
  }

  private at(layer: number, head: number): { part: FormatPart; local: number } {
    this.layerParts(layer);
    const found = this.where[layer]![head];
    if (!Number.isInteger(head) || !found) throw new GpuError('INVALID_ARGUMENT', `No layer ${layer} / KV head ${head} (the cache has ${this.shape.layers} x ${this.shape.kvHeads}).`);
    return found;
  }

  /** Rows held by (`layer`, KV `head`). */
  length(layer: number, head: number): number {
    const { part, local } = this.at(layer, head);
    return part.cache.length(0, local);
  }

  /** The original position of each row of (`layer`, KV `head`), in storage order. */
  positions(layer: number, head: number): Int32Array {
    const { part, local } = this.at(layer, head);
    return part.cache.positions(0, local);
  }

  /** One head's keys or values, `[length][headDim]`, read back (dequantized) from the GPU. */
  rows(layer: number, head: number, kind: 'keys' | 'values'): Promise<Float32Array> {
    try {
      const { part, local } = this.at(layer, head);
      return part.cache.rows(0, local, kind);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends tokens to every KV head of `layer`: keys/values `[tokens][kvHeads][headDim]`, positions
   * `[tokens]` or `[tokens][kvHeads]`, as {@link GpuPagedCache.append}.
   */
  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    const parts = this.layerParts(layer);
    const { kvHeads, headDim } = this.shape;
    const tokens = keys.length / (kvHeads * headDim);
    const perHead = kvHeads > 1 && positions.length === tokens * kvHeads;
    if (!Number.isInteger(tokens) || values.length !== keys.length || (positions.length !== tokens && !perHead)) {
      throw new GpuError('INVALID_ARGUMENT', `append: ${positions.length} positions need ${positions.length * kvHeads * headDim} floats of keys and values ([tokens][${kvHeads}][${headDim}]), got ${keys.length} and ${values.length}.`);
    }
    if (tokens === 0) return;
    this.reserve(layer, tokens);
    for (const { heads, cache } of parts) {
      const pick = (rows: Float32Array) => gatherHeads(rows, tokens, kvHeads, headDim, heads);
      const own = perHead ? Int32Array.from({ length: tokens * heads.length }, (_, i) => positions[Math.floor(i / heads.length) * kvHeads + heads[i % heads.length]!]!) : positions;
      cache.append(0, pick(keys), pick(values), own);
    }
  }

  /**
   * Encodes an append of rows already on the GPU (`[tokens][kvHeads][headDim]`, COPY_SRC usage) at
   * `positions` (`[tokens]`), without submitting: each format's heads are gathered and appended.
   */
  encodeAppend(layer: number, keys: GPUBuffer, values: GPUBuffer, positions: Int32Array): void {
    const parts = this.layerParts(layer);
    const { kvHeads, headDim } = this.shape;
    const tokens = positions.length;
    this.reserve(layer, tokens);
    for (const { heads, cache } of parts) {
      const pick = (rows: GPUBuffer) => this.encodeGather(rows, tokens, kvHeads, headDim * 4, heads);
      cache.encodeAppend(0, pick(keys), pick(values), positions);
    }
  }

  /**
   * Makes sure appending `tokens` rows to every head of the first `layers` layers will not run out of
   * blocks (pools grow first; a refusal, DEVICE_OUT_OF_MEMORY, changes no sequence).
   */
  reserveAppend(layers: number, tokens: number): void {
    // parts of several layers may share a pool: reserve what they need together
    const needs = new Map<GpuKvPool, { blocks: number; residuals: number }>();
    for (let layer = 0; layer < layers; layer++) {
      for (const { cache } of this.layerParts(layer)) {
        const need = needs.get(cache.pool) ?? { blocks: 0, residuals: 0 };
        need.blocks += GpuPagedCache.blocksNeeded(0, [cache], [tokens]);
        need.residuals += GpuPagedCache.residualsNeeded(0, [cache], [tokens]);
        needs.set(cache.pool, need);
      }
    }
    for (const [pool, { blocks, residuals }] of needs) pool.reserve([blocks], [residuals]);
  }

  private reserve(layer: number, tokens: number): void {
    for (const { cache } of this.layerParts(layer)) GpuPagedCache.reserveAppend(1, [cache], [tokens]);
  }

  /** softmax(q K^T / sqrt(d)) V for each query head over the layer's rows (`[queryHeads][headDim]`). */
  async attend(layer: number, queries: Float32Array): Promise<Float32Array> {
    const { queryHeads, headDim } = this.shape;
    this.layerParts(layer);
    if (queries.length !== queryHeads * headDim) throw new GpuError('INVALID_ARGUMENT', `attend: expected ${queryHeads * headDim} query floats, got ${queries.length}.`);
    const d = this.dispatcher;
    const out = d.temp(queries.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    this.encodeAttend(layer, d.temp(queries.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, queries), out);
    return new Float32Array(await d.read(out, queries.byteLength));
  }

  /**
   * Encodes decode attention of `queries` (`[queryHeads][headDim]` on the GPU, COPY_SRC usage) into
   * `out`, without submitting: each format's query heads attend over its KV heads' rows, and their
   * outputs are copied into place. Records the query rows when {@link recordQueries} is on.
   */
  encodeAttend(layer: number, queries: GPUBuffer, out: GPUBuffer): void {
    const parts = this.layerParts(layer);
    const { queryHeads, kvHeads, headDim } = this.shape;
    const groupBytes = (queryHeads / kvHeads) * headDim * 4;
    const d = this.dispatcher;
    for (const { heads, cache } of parts) {
      if (heads.length === kvHeads) {
        cache.encodeAttend(0, queries, out); // a layer of one format: nothing to gather
        continue;
      }
      const own = this.encodeGather(queries, 1, kvHeads, groupBytes, heads);
      const result = d.temp(heads.length * groupBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      cache.encodeAttend(0, own, result);
      let local = 0;
      for (const [first, count] of runsOf(heads)) {
        d.copy(result, local * groupBytes, out, first * groupBytes, count * groupBytes);
        local += count;
      }
    }
  }

  /** Copies each token's rows of `heads` (rows of `rowBytes` per KV head) into a new buffer `[tokens][heads][row]` (the source itself when `heads` is every head). */
  private encodeGather(source: GPUBuffer, tokens: number, kvHeads: number, rowBytes: number, heads: readonly number[]): GPUBuffer {
    if (heads.length === kvHeads) return source; // every head, in order
    const d = this.dispatcher;
    const target = d.temp(tokens * heads.length * rowBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const runs = runsOf(heads);
    for (let t = 0; t < tokens; t++) {
      let local = 0;
      for (const [first, count] of runs) {
        d.copy(source, (t * kvHeads + first) * rowBytes, target, (t * heads.length + local) * rowBytes, count * rowBytes);
        local += count;
      }
    }
    return target;
  }

  /** Keeps, per KV head, the rows listed in `kept[head]` (strictly ascending), as {@link GpuPagedCache.compact}. */
  compact(layer: number, kept: readonly Int32Array[]): void {
    const parts = this.layerParts(layer);
    if (kept.length !== this.shape.kvHeads) throw new GpuError('INVALID_ARGUMENT', `compact: one index list per KV head (${this.shape.kvHeads}), got ${kept.length}.`);
    // every part checks its indices before any part compacts
    kept.forEach((indices, head) => {
      const length = this.length(layer, head);
      indices.forEach((index, i) => {
        if (!Number.isInteger(index) || index < 0 || index >= length || (i > 0 && index <= indices[i - 1]!)) {
          throw new GpuError('INVALID_ARGUMENT', `compact: head ${head} indices must be strictly ascending in [0, ${length}); got ${index} at ${i}.`);
        }
      });
    });
    for (const { heads, cache } of parts) cache.compact(0, heads.map((head) => kept[head]!));
  }

  /** Keeps the last `rows` query rows of every layer from now on (see {@link GpuPagedCache.recordQueries}). */
  recordQueries(rows: number): void {
    this.check();
    for (const { cache } of this.parts.flat()) cache.recordQueries(rows);
  }

  /** Seeds `layer`'s recorded queries with the last rows of `queries` (`[n][queryHeads][headDim]`) at `positions`. */
  seedQueries(layer: number, queries: Float32Array, positions: Int32Array): void {
    const parts = this.layerParts(layer);
    const { queryHeads, kvHeads, headDim } = this.shape;
    const n = positions.length;
    if (queries.length !== n * queryHeads * headDim) throw new GpuError('INVALID_ARGUMENT', `seedQueries: ${n} positions need ${n * queryHeads * headDim} query floats, got ${queries.length}.`);
    const groupFloats = (queryHeads / kvHeads) * headDim;
    for (const { heads, cache } of parts) cache.seedQueries(0, gatherHeads(queries, n, kvHeads, groupFloats, heads), positions);
  }

  /** `layer`'s recorded query rows read back, oldest first (`[count][queryHeads][headDim]`), with their positions. */
  async recentQueries(layer: number): Promise<{
    /** The query rows, oldest first. */
    queries: Float32Array;
    /** The position of each query row. */
    positions: Int32Array;
  }> {
    const parts = this.layerParts(layer);
    const { queryHeads, kvHeads, headDim } = this.shape;
    const groupFloats = (queryHeads / kvHeads) * headDim;
    const read = await Promise.all(parts.map(({ cache }) => cache.recentQueries(0)));
    const { positions } = read[0]!;
    const queries = new Float32Array(positions.length * queryHeads * headDim);
    parts.forEach(({ heads }, p) => {
      const own = read[p]!.queries;
      for (let t = 0; t < positions.length; t++) {
        heads.forEach((head, local) => {
          const from = (t * heads.length + local) * groupFloats;
          queries.set(own.subarray(from, from + groupFloats), (t * kvHeads + head) * groupFloats);
        });
      }
    });
    return { queries, positions };
  }

  /** Bytes of the blocks the sequence holds, each in its own format, and of its f32 residual slots. */
  bytes(): number {
    return this.parts.flat().reduce((sum, { cache }) => sum + cache.bytes(), 0);
  }

  /** Gives the blocks back to their pools (and frees pools the cache made); the cache can no longer be used. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const { cache } of this.parts.flat()) cache.destroy();
    for (const pool of this.ownedPools.splice(0)) pool.destroy();
  }
}

/** Each token's rows of `heads` from `rows` (`[tokens][kvHeads][width]`), as `[tokens][heads][width]`. */
function gatherHeads(rows: Float32Array, tokens: number, kvHeads: number, width: number, heads: readonly number[]): Float32Array {
  const out = new Float32Array(tokens * heads.length * width);
  for (let t = 0; t < tokens; t++) {
    heads.forEach((head, local) => out.set(rows.subarray((t * kvHeads + head) * width, (t * kvHeads + head + 1) * width), (t * heads.length + local) * width));
  }
  return out;
}
