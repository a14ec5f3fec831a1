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

  // The engine (src/cpp/engine/engine.h).
  adakv_model_create(config: number, normEps: number): number;
  adakv_model_destroy(model: number): number;
  adakv_model_tensor(model: number, slot: number, layer: number, type: number, byteLength: number, address: number): number;
  adakv_model_ready(model: number): number;
  adakv_model_stats(model: number, out: number): number;
  adakv_prefill(model: number, pool: number, sequence: number, tokens: number, count: number, logits: number, queries: number, keys: number, values: number): number;
  adakv_decode(model: number, pool: number, batch: number, sequences: number, tokens: number, positions: number, logits: number, argmax: number, queries: number): number;
  adakv_argmax(values: number, count: number): number;
  adakv_threads_configure(threads: number, stackBytes: number): number;
  adakv_thread_stack_top(index: number): number;
  adakv_thread_worker(index: number): number;
  adakv_threads_stop(): void;
  adakv_threads_failed_flag(): number;
  adakv_threads_active(): number;
  adakv_threads_task_counts(out: number, capacity: number): number;
  adakv_build_features(): number;
  adakv_kernel_matmul(type: number, weights: number, rows: number, cols: number, x: number, tokens: number, out: number): number;
  adakv_kernel_dequantize(type: number, row: number, cols: number, out: number): number;
  adakv_kernel_rmsnorm(out: number, x: number, weight: number, rows: number, dim: number, eps: number): number;
  adakv_kernel_rope(vector: number, heads: number, headDim: number, cos: number, sin: number): number;
  adakv_kernel_swiglu(gate: number, up: number, count: number): number;
  adakv_kernel_softmax(values: number, count: number): number;
  adakv_kernel_quantize(kind: number, x: number, cols: number, q: number, d: number, sums: number): number;
  /** Only in the threads variants: points a worker instance's stack at its own region. */
  adakv_thread_set_stack?(top: number): void;
}

/** Bits of adakv_build_features(). */
export const FEATURE_THREADS = 1;
export const FEATURE_RELAXED_SIMD = 2;
export const FEATURE_SIMD = 4;

/** Row kinds of adakv_read_rows. */
export const ROW_KEYS = 0;
export const ROW_VALUES = 1;
