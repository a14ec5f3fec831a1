import type { FlatLayerView, SequenceStats } from '@adakv/allocator-wasm';
import { InvalidHandleError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import type { KvStore } from '../store.js';
import { translated } from './paged-errors.js';
import { PagedPool, type PagedPoolOptions } from './paged-pool.js';
import { checkAppend, checkAttend, checkHead, checkPlan } from './store-validation.js';

export type PagedStoreOptions = Omit<PagedPoolOptions, 'headDim'>;

/**
 * One sequence's KV cache in fixed-size blocks of a WebAssembly pool (C++ compiled to WASM): append is
 * O(1) per token, compaction moves survivors into holes and returns whole trailing blocks, attention
 * runs in WASM SIMD reading K/V where they live. Behaves exactly like the ReferenceStore.
 */
export class PagedStore implements KvStore {
  readonly geometry: CacheGeometry;
  readonly pool: PagedPool;
  private sequence: number;
  private readonly ownsPool: boolean;

  /** @internal Use `PagedStore.create` or `PagedPool.createStore`. */
  constructor(geometry: CacheGeometry, pool: PagedPool, sequence: number, ownsPool: boolean) {
    this.geometry = geometry;
    this.pool = pool;
    this.sequence = sequence;
    this.ownsPool = ownsPool;
  }

  /** A store with a pool of its own (loads the WebAssembly, so it is async). */
  static async create(geometry: CacheGeometry, options: PagedStoreOptions = {}): Promise<PagedStore> {
    const pool = await PagedPool.create({ ...options, headDim: geometry.headDim });
    try {
      const store = pool.createStore(geometry);
      return new PagedStore(store.geometry, pool, store.sequence, true);
    } catch (error) {
      pool.dispose();
      throw error;
    }
  }

  length(layer: number, head: number): number {
    checkHead(this.geometry, layer, head);
    return translated(() => this.pool.blocks.length(this.live(), layer, head));
  }

  positions(layer: number, head: number): Int32Array {
    checkHead(this.geometry, layer, head);
    return translated(() => this.pool.blocks.positions(this.live(), layer, head));
  }

  async keys(layer: number, head: number): Promise<Float32Array> {
    checkHead(this.geometry, layer, head);
    return translated(() => this.pool.blocks.keys(this.live(), layer, head));
  }

  async values(layer: number, head: number): Promise<Float32Array> {
    checkHead(this.geometry, layer, head);
    return translated(() => this.pool.blocks.values(this.live(), layer, head));
  }

  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    checkAppend(this.geometry, layer, keys, values, positions);
    translated(() => this.pool.blocks.append(this.live(), layer, keys, values, positions));
  }

  compact(layer: number, kept: readonly Int32Array[]): void {
    checkPlan(this.geometry, layer, kept, (head) => this.length(layer, head));
    translated(() => this.pool.blocks.compact(this.live(), layer, kept));
  }

  async attend(layer: number, queries: Float32Array, out: Float32Array): Promise<void> {
    checkAttend(this.geometry, layer, queries, out);
    translated(() => this.pool.blocks.attend(this.live(), layer, queries, out));
  }

  /** Bytes of the blocks this sequence owns (K and V, including the unused rows of partial blocks). */
  bytes(): number {
    return this.stats().heldBytes;
  }

  /** Blocks, rows, bytes held and metadata bytes of this sequence. */
  stats(): SequenceStats {
    return translated(() => this.pool.blocks.sequenceStats(this.live()));
  }

  /** cu_seqlens-style offsets, block table and block addresses of one layer, for varlen kernels. */
  flatView(layer: number): FlatLayerView {
    checkHead(this.geometry, layer, 0);
    return translated(() => this.pool.blocks.flatten(this.live(), layer));
  }

  /** Returns this sequence's blocks to the pool (and frees the pool if the store created it). */
  dispose(): void {
    if (this.sequence < 0) return;
    if (this.ownsPool) {
      this.pool.dispose();
    } else if (!this.pool.blocks.disposed) {
      translated(() => this.pool.blocks.removeSequence(this.sequence));
    }
    this.sequence = -1;
  }

  private live(): number {
    if (this.sequence < 0) throw new InvalidHandleError('This PagedStore was disposed: create a new store.');
    return this.sequence;
  }
}
