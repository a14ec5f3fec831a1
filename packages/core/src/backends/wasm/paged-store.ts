import type { BlockPool, FlatLayerView, KvFormat, SequenceStats } from '@adakv/allocator-wasm';
import { InvalidHandleError } from '../../errors.js';
import type { CacheGeometry } from '../../geometry.js';
import type { KvStore } from '../../store.js';
import { QueryWindow, RecordsQueriesOnCpu } from '../query-window.js';
import { translated } from './paged-errors.js';
import { checkAppend, checkAttend, checkHead, checkPlan } from '../store-checks.js';

/**
 * One sequence's KV cache in fixed-size blocks of a WebAssembly pool (C++ compiled to WASM): append is
 * O(1) per token, compaction moves survivors into holes and returns whole trailing blocks, attention
 * runs in WASM SIMD reading K/V where they live. Behaves exactly like the ReferenceStore. Made by a
 * {@link PagedPool} (or the wasm backend), never directly.
 */
export class PagedStore extends RecordsQueriesOnCpu implements KvStore {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  /** The blocks this sequence's rows live in, shared with the pool's other sequences. */
  readonly blocks: BlockPool;
  private sequence: number;
  private readonly onDispose: (() => void) | null;
  /** The recent query rows of each layer (for decode-time eviction). */
  protected readonly queryWindow: QueryWindow;

  /** @internal Use `PagedPool.createStore` or a backend's `createStore`. */
  constructor(geometry: CacheGeometry, blocks: BlockPool, sequence: number, onDispose: (() => void) | null = null) {
    super();
    this.geometry = geometry;
    this.blocks = blocks;
    this.sequence = sequence;
    this.onDispose = onDispose;
    this.queryWindow = new QueryWindow(geometry);
  }

  length(layer: number, head: number): number {
    checkHead(this.geometry, layer, head);
    return translated(() => this.blocks.length(this.live(), layer, head));
  }

  positions(layer: number, head: number): Int32Array {
    checkHead(this.geometry, layer, head);
    return translated(() => this.blocks.positions(this.live(), layer, head));
  }

  /** The format (`layer`, `head`) stores its K/V in (the pool's, or its own: `StoreOptions.kvFormats`). */
  kvFormat(layer: number, head: number): KvFormat {
    checkHead(this.geometry, layer, head);
    return translated(() => this.blocks.headFormat(this.live(), layer, head));
  }

  async keys(layer: number, head: number): Promise<Float32Array> {
    checkHead(this.geometry, layer, head);
    return translated(() => this.blocks.keys(this.live(), layer, head));
  }

  async values(layer: number, head: number): Promise<Float32Array> {
    checkHead(this.geometry, layer, head);
    return translated(() => this.blocks.values(this.live(), layer, head));
  }

  append(layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): void {
    checkAppend(this.geometry, layer, keys, values, positions);
    translated(() => this.blocks.append(this.live(), layer, keys, values, positions));
    this.queryWindow.appended(layer, positions);
  }

  compact(layer: number, kept: readonly Int32Array[]): void {
    checkPlan(this.geometry, layer, kept, (head) => this.length(layer, head));
    translated(() => this.blocks.compact(this.live(), layer, kept));
  }

  async attend(layer: number, queries: Float32Array, out: Float32Array): Promise<void> {
    checkAttend(this.geometry, layer, queries, out);
    translated(() => this.blocks.attend(this.live(), layer, queries, out));
    this.queryWindow.attended(layer, queries);
  }

  /** Bytes of the blocks this sequence owns (K and V, including the unused rows of partial blocks). */
  bytes(): number {
    return this.stats().heldBytes;
  }

  /** Blocks, rows, bytes held and metadata bytes of this sequence. */
  stats(): SequenceStats {
    return translated(() => this.blocks.sequenceStats(this.live()));
  }

  /** cu_seqlens-style offsets, block table and block addresses of one layer, for varlen kernels. */
  flatView(layer: number): FlatLayerView {
    checkHead(this.geometry, layer, 0);
    return translated(() => this.blocks.flatten(this.live(), layer));
  }

  /** @internal The sequence's handle in its pool, for the engine's forward pass. */
  get handle(): number {
    return this.live();
  }

  /** @internal Whether decode steps should hand their queries to {@link recordStep}. */
  get recording(): boolean {
    return this.queryWindow.capacity > 0;
  }

  /**
   * @internal What the engine's forward pass appended and attended with, for query recording:
   * `positions` appended to every layer, then (decode) each layer's query row `queries[layer]`.
   */
  recordStep(positions: Int32Array, queries?: (layer: number) => Float32Array): void {
    for (let layer = 0; layer < this.geometry.layers; layer++) {
      this.queryWindow.appended(layer, positions);
      if (queries) this.queryWindow.attended(layer, queries(layer));
    }
  }

  /** Returns this sequence's blocks to the pool. */
  dispose(): void {
    if (this.sequence < 0) return;
    if (!this.blocks.disposed) translated(() => this.blocks.removeSequence(this.sequence));
    this.sequence = -1;
    this.onDispose?.();
  }

  private live(): number {
    if (this.sequence < 0) throw new InvalidHandleError('This PagedStore was disposed: create a new store.');
    return this.sequence;
  }
}
