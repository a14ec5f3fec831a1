import type { CacheGeometry } from './geometry.js';

/** Recorded query rows of one layer, oldest first: `queries` is `[rows][queryHeads][headDim]`. */
export interface RecentQueries {
  /** Query rows, oldest first. */
  readonly queries: Float32Array;
  /** The position of each query row. */
  readonly positions: Int32Array;
}

/**
 * One sequence's KV cache: per (layer, KV head) a variable-length list of K/V rows with the original
 * absolute position of each row. Implemented by the reference TS store, the paged WASM store and the
 * WebGPU store; every method and the model runner work against this interface only.
 *
 * Reads that may need a device round trip (`keys`, `values`, `attend`) are async so the WebGPU store
 * fits the same contract; bookkeeping and writes are synchronous.
 *
 * Layouts: a token's rows for one layer are `[kvHeads][headDim]` (K and V separately); queries for
 * one token are `[queryHeads][headDim]`. Query head `q` reads KV head `floor(q / groupSize)`.
 */
export interface KvStore {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  /** Number of cached entries of one (layer, KV head). */
  length(layer: number, head: number): number;
  /** Original absolute positions of one head's entries, in storage order (a copy). */
  positions(layer: number, head: number): Int32Array;
  /** One head's keys, `[length][headDim]` (a copy). */
  keys(layer: number, head: number): Promise<Float32Array>;
  /** One head's values, `[length][headDim]` (a copy). */
  values(layer: number, head: number): Promise<Float32Array>;
  /**
   * Appends `tokens` entries to every KV head of `layer`: `keys`/`values` are `[tokens][kvHeads][headDim]`
   * (RoPE already applied), `positions` holds each token's absolute position (`[tokens]`), or each
   * row's, `[tokens][kvHeads]`, when the heads keep different tokens (see `storeKeptRows`).
   */
  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void;
  /**
   * Keeps, for each KV head of `layer`, only the entries whose current indices are listed in
   * `kept[head]` (strictly ascending), preserving their order.
   */
  compact(layer: number, kept: readonly Int32Array[]): void;
  /**
   * Decode attention of one token: `queries` is `[queryHeads][headDim]`; writes softmax(qK^T/sqrt(d))V
   * per query head into `out` (`[queryHeads][headDim]`), numerically stable. Every cached entry is
   * visible (causality is the caller's concern).
   */
  attend(layer: number, queries: Float32Array, out: Float32Array): Promise<void>;
  /**
   * Keeps the queries of the last `rows` decode steps of every layer, where the store's data lives
   * (each `attend`, or the GPU forward pass, records its step's row at the layer's newest position):
   * decode-time eviction scores the entries from them. 0 stops and frees them.
   */
  recordQueries(rows: number): void;
  /** Records prompt query rows `[n][queryHeads][headDim]` at `positions` (the last `rows` stay). */
  seedQueries(layer: number, queries: Float32Array, positions: Int32Array): void;
  /** The recorded query rows of `layer`, oldest first (copies; read back from the device on WebGPU). */
  recentQueries(layer: number): Promise<RecentQueries>;
  /** Bytes the store holds for K/V (and, for paged stores, the blocks it owns). */
  bytes(): number;
  /** Releases everything; the store must not be used afterwards. */
  dispose(): void;
}
