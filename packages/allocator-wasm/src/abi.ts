/** The raw C ABI of allocator.wasm (src/cpp/exports.cpp): statuses < 0 are errors, pointers are byte offsets. */
export interface AllocatorExports {
  readonly memory: WebAssembly.Memory;
  _initialize(): void;
  malloc(bytes: number): number;
  free(pointer: number): void;
  adakv_pool_create(headDim: number, blockSize: number, initialBlocks: number, maxBlocks: number): number;
  adakv_pool_destroy(pool: number): number;
  adakv_pool_stats(pool: number, out: number): number;
  adakv_pool_check(pool: number): number;
  adakv_sequence_add(pool: number, layers: number, kvHeads: number): number;
  adakv_sequence_remove(pool: number, sequence: number): number;
  adakv_sequence_stats(pool: number, sequence: number, out: number): number;
  adakv_append(pool: number, sequence: number, layer: number, tokens: number, keys: number, values: number, positions: number): number;
  adakv_compact(pool: number, sequence: number, layer: number, keptCounts: number, keptIndices: number): number;
  adakv_length(pool: number, sequence: number, layer: number, head: number): number;
  adakv_read_rows(pool: number, sequence: number, layer: number, head: number, kind: number, out: number): number;
  adakv_read_positions(pool: number, sequence: number, layer: number, head: number, out: number): number;
  adakv_layer_blocks(pool: number, sequence: number, layer: number): number;
  adakv_flatten(pool: number, sequence: number, layer: number, cuSeqlens: number, cuBlocks: number, blockTable: number, blockAddresses: number): number;
  adakv_attend(pool: number, sequence: number, layer: number, queryHeads: number, queries: number, out: number): number;
  adakv_select_adaptive(scores: number, heads: number, prefixLength: number, selectable: number, alpha: number, caps: number, keptIndices: number): number;
}

/** Row kinds of adakv_read_rows. */
export const ROW_KEYS = 0;
export const ROW_VALUES = 1;
