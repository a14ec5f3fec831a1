import type { CompressionPlan } from '../compression-plan.js';
import type { CacheGeometry } from '../geometry.js';
import type { PrefillOptions, PrefillOutput } from '../model/forward.js';
import type { Model } from '../model/model.js';
import type { LayerObservation } from '../model/observation.js';
import type { CompressionRequest, PlanInput } from '../plan.js';
import type { KvStore } from '../store.js';
import type { KvFormat, StoreOptions } from './kv-format.js';

/** The backends: the TypeScript reference, the WebAssembly engine, WebGPU. */
export type BackendName = 'reference' | 'wasm' | 'webgpu';

/**
 * A model's forward pass on one backend. K/V go to and come from the sequence's store, which must
 * come from the same backend. Every backend gives the reference backend's logits within a documented
 * tolerance.
 */
export interface ForwardPass {
  /** The model's weights as this pass holds them: bytes resident, and parameters (a tied classifier counted once). */
  readonly weights: {
    /** Bytes the weights occupy where they live (quantized tensors stay quantized). */
    readonly residentBytes: number;
    /** Weights (parameters) the model holds. */
    readonly parameters: number;
    /** Bytes of the wasm backend's q8_0 classifier screen for greedy decode, beside `residentBytes` (absent or 0 without one). */
    readonly screenBytes?: number;
  };
  /**
   * Runs `tokens` at positions `start .. start+n-1` into the store (empty for `start` 0; a later chunk
   * of a long prompt continues it); the logits predicting the next position, and what each layer saw
   * unless `observations: false`. A store that records queries keeps the last rows.
   */
  prefill(tokens: ArrayLike<number>, store: KvStore, options?: PrefillOptions): Promise<PrefillOutput>;
  /** One token at `position`; the next-token logits (the array may be reused by the next call). */
  decode(token: number, position: number, store: KvStore): Promise<Float32Array>;
  /** One decode step of several sequences, weights read once for all: row i equals `decode(tokens[i], positions[i], stores[i])`. */
  decodeBatch(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<Float32Array[]>;
  /**
   * {@link decodeBatch} for greedy decoding: the next token of each sequence, the argmax taken where
   * the logits are (on the GPU only the ids come back). Throws INVALID_NUMBER for non-finite logits.
   */
  decodeGreedy(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<number[]>;
}

/** Blocks of one paged pool that many sequences share (what the scheduler admits against). */
export interface KvPool {
  /** Tokens per block; a block holds K and V of one (layer, KV head). */
  readonly blockSize: number;
  /** Bytes of one block in the pool's format (scales included): what a byte limit counts in. */
  readonly blockBytes: number;
  /** Most blocks the pool can ever hold. */
  readonly capacity: number;
  /** Blocks in use, free, and in all now. */
  stats(): {
    /** Blocks held by stores. */
    readonly usedBlocks: number;
    /** Blocks free for appends. */
    readonly freeBlocks: number;
    /** Blocks the pool has now. */
    readonly totalBlocks: number;
  };
  /** A new, empty sequence store whose blocks come from this pool. */
  createStore(): KvStore;
  /** Throws unless the pool's bookkeeping is consistent (tests, debugging). */
  check(): void;
  /** Frees the pool and every store made from it (the backend's dispose does it too). */
  dispose(): void;
}

/** What decode-time eviction of one layer asks a backend for. */
export interface LayerEviction {
  /** The method whose scorer and allocation re-score the layer. */
  readonly method: CompressionRequest['method'];
  /** Overrides of the method's defaults. */
  readonly options?: CompressionRequest['options'];
  /** Entries to keep per KV head on average after the eviction, recent window included. */
  readonly tokensPerHead: number;
  /** The model's output projections, for methods that score with them (CriticalKV; see `CompressionRequest.outputProjection`). */
  readonly outputProjection?: CompressionRequest['outputProjection'];
}

/**
 * What scoring every entry of one layer asks a backend for: the running sums of cumulative methods
 * (H2O, KV-Compress) and the metrics of a joint eviction across layers.
 */
export interface LayerScoring {
  /** The method whose scorer scores. */
  readonly method: CompressionRequest['method'];
  /** Overrides of the method's defaults. */
  readonly options?: CompressionRequest['options'];
  /**
   * Only the recorded query rows at positions after this one score (the rows observed since the last
   * accumulation); every recorded row when absent.
   */
  readonly queriesAfter?: number;
  /** The model's output projections, for methods that score with them. */
  readonly outputProjection?: CompressionRequest['outputProjection'];
}

/**
 * Where the engine runs: the KV stores, the model's forward pass and compression planning, with the
 * data where it lives. Chosen once (`chooseBackend`) and handed to everything that runs a model.
 */
export interface Backend {
  /** Which backend this is. */
  readonly name: BackendName;
  /** What it runs on, for people (e.g. "WebGPU on NVIDIA H200", "WebAssembly, paged blocks"). */
  readonly description: string;
  /** The K/V storage formats `createStore` and `createPool` accept here, highest precision first. */
  readonly kvFormats: readonly KvFormat[];
  /** Whether one store may hold heads of several formats (`StoreOptions.kvFormats`): precision per layer and KV head. */
  readonly mixedKvFormats: boolean;
  /** Rows per block of the stores `createStore` makes (1 where entries are not paged): what a byte budget counts in. */
  readonly storeBlockSize: number;
  /** Bytes of one block (`storeBlockSize` rows of K and V of one KV head) of the stores `createStore` makes, in `format`. */
  blockBytes(format: KvFormat, headDim: number): number;
  /** A new, empty KV store for one sequence. */
  createStore(geometry: CacheGeometry, options?: StoreOptions): KvStore;
  /** Whether `store` was made by this backend (its forward pass and planner can use it). */
  owns(store: KvStore): boolean;
  /**
   * A pool of blocks many sequences share, for the scheduler: `poolBlocks` fixed, or growing when
   * omitted. Throws for a backend without paged storage (reference).
   */
  createPool(geometry: CacheGeometry, options: { blockSize?: number; poolBlocks?: number } & StoreOptions): KvPool;
  /** The model's forward pass here (weights uploaded once per model). */
  forwardPass(model: Model): ForwardPass;
  /**
   * The compression plan for what prefill observed, computed where the observations live: the CPU
   * planner's plan, including its keep-everything plan with `skipped` for a prompt no longer than the window.
   */
  plan(input: PlanInput): Promise<CompressionPlan>;
  /**
   * Plans and applies compression right after prefill (a `skipped` plan changes nothing). With no
   * observations (a prompt prefilled in chunks) it plans from the store: the queries it recorded as
   * the prompt passed score every stored entry, layer by layer.
   */
  compress(store: KvStore, observations: readonly LayerObservation[], request: CompressionRequest): Promise<CompressionPlan>;
  /**
   * Decode-time eviction of one layer of `store`: scores its entries from the store's recorded
   * queries (see {@link KvStore.recordQueries}) where they live, keeps `tokensPerHead` per head on
   * average (the recent window of every head always kept) and compacts. Returns the entries evicted.
   */
  evictLayer(store: KvStore, layer: number, eviction: LayerEviction): Promise<number>;
  /**
   * Scores every entry of every KV head of `layer` with the method's scorer, from the store's keys
   * (and values) and its recorded queries (those after `queriesAfter`), where they live: one array
   * per KV head, one score per entry in storage order, the recent window included (nothing is
   * protected here; the caller protects). With no qualifying row the attention scorers give zeros.
   * Changes nothing. The webgpu backend reads keys and rows back and scores on the CPU.
   */
  scoreLayer(store: KvStore, layer: number, scoring: LayerScoring): Promise<Float32Array[]>;
  /** Frees what the backend holds (pools, uploaded weights, the device it requested). */
  dispose(): void;
}
