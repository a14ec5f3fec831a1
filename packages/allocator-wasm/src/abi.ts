/** The raw C ABI of allocator.wasm (src/cpp/exports.cpp): statuses < 0 are errors, pointers are byte offsets. */
export interface AllocatorExports {
  /** The module's linear memory (shared in the threads variants). */
  readonly memory: WebAssembly.Memory;
  /** Runs the C++ static constructors; call once after instantiating. */
  _initialize(): void;
  /** Allocates `bytes` in linear memory; 0 when it cannot. */
  malloc(bytes: number): number;
  /** Frees what `malloc` returned. */
  free(pointer: number): void;
  /** Creates a block pool for rows of `headDim` floats; returns its handle. */
  adakv_pool_create(headDim: number, blockSize: number, initialBlocks: number, maxBlocks: number): number;
  /** Creates a block pool whose blocks hold K/V in `format` (0 f32, 1 f16, 2 int8, 3 int4); returns its handle. */
  adakv_pool_create_format(headDim: number, blockSize: number, initialBlocks: number, maxBlocks: number, format: number): number;
  /** Destroys a pool and its sequences. */
  adakv_pool_destroy(pool: number): number;
  /** Writes the pool's statistics (doubles) at `out`. */
  adakv_pool_stats(pool: number, out: number): number;
  /** Checks the pool's invariants (free lists, block ownership). */
  adakv_pool_check(pool: number): number;
  /** Adds a sequence of `layers` x `kvHeads` block tables; returns its handle. */
  adakv_sequence_add(pool: number, layers: number, kvHeads: number): number;
  /** As `adakv_sequence_add`, each head storing its blocks in its own format (`formats`: layers x kvHeads ids, layer-major; 0: the pool's). */
  adakv_sequence_add_formats(pool: number, layers: number, kvHeads: number, formats: number): number;
  /** Removes a sequence, its blocks back to the pool. */
  adakv_sequence_remove(pool: number, sequence: number): number;
  /** Writes the sequence's statistics (doubles) at `out`. */
  adakv_sequence_stats(pool: number, sequence: number, out: number): number;
  /**
   * Appends `tokens` rows of K and V (`[tokens][kvHeads][headDim]`) with their positions to every KV head
   * of `layer`.
   */
  adakv_append(pool: number, sequence: number, layer: number, tokens: number, keys: number, values: number, positions: number): number;
  /** As `adakv_append`, with positions `[tokens][kvHeads]`: each head's rows carry their own. */
  adakv_append_heads(pool: number, sequence: number, layer: number, tokens: number, keys: number, values: number, positions: number): number;
  /**
   * Keeps, per KV head of `layer`, the rows listed in `keptIndices` (`keptCounts` per head) and frees the
   * emptied blocks.
   */
  adakv_compact(pool: number, sequence: number, layer: number, keptCounts: number, keptIndices: number): number;
  /** Rows held by (`layer`, `head`). */
  adakv_length(pool: number, sequence: number, layer: number, head: number): number;
  /** The format id (0 f32, 1 f16, 2 int8, 3 int4) of (`layer`, `head`)'s blocks. */
  adakv_head_format(pool: number, sequence: number, layer: number, head: number): number;
  /** Copies the rows of (`layer`, `head`) to `out`: K for `kind` 0, V for 1. */
  adakv_read_rows(pool: number, sequence: number, layer: number, head: number, kind: number, out: number): number;
  /** Copies the original positions of the rows of (`layer`, `head`) to `out`. */
  adakv_read_positions(pool: number, sequence: number, layer: number, head: number, out: number): number;
  /** Blocks held by `layer` over all its KV heads. */
  adakv_layer_blocks(pool: number, sequence: number, layer: number): number;
  /**
   * Writes `layer`'s flattened offsets (cumulative rows and blocks per head), block table and block
   * addresses.
   */
  adakv_flatten(pool: number, sequence: number, layer: number, cuSeqlens: number, cuBlocks: number, blockTable: number, blockAddresses: number): number;
  /** Decode attention of `queryHeads` query rows over `layer`'s paged K/V, into `out`. */
  adakv_attend(pool: number, sequence: number, layer: number, queryHeads: number, queries: number, out: number): number;
  /**
   * Causal attention of `rows` query rows (`[rows][queryHeads][headDim]`): row t over each KV head's first
   * `start + t + 1` rows of `layer`, into `out`.
   */
  adakv_attend_causal(pool: number, sequence: number, layer: number, queryHeads: number, rows: number, start: number, queries: number, out: number): number;
  /** Ada-KV's selection over `heads` score rows: per-head caps, then each head's kept indices. */
  adakv_select_adaptive(scores: number, heads: number, prefixLength: number, selectable: number, alpha: number, caps: number, keptIndices: number): number;

  // The engine (src/cpp/engine/engine.h).
  /**
   * Creates a model from its config (10 int32: dim, hiddenDim, layers, heads, KV heads, headDim,
   * vocabulary, context, tied classifier, RoPE style 0 adjacent / 1 NeoX).
   */
  adakv_model_create(config: number, normEps: number): number;
  /** Destroys a model and its weights. */
  adakv_model_destroy(model: number): number;
  /** Reserves a tensor of the model and writes the address to copy its bytes to at `address`. */
  adakv_model_tensor(model: number, slot: number, layer: number, type: number, byteLength: number, address: number): number;
  /** Checks that every tensor was given; the model can run after it. */
  adakv_model_ready(model: number): number;
  /** Builds greedy decode's q8_0 screen of an f32 classifier: 1 built, 0 none for this classifier, negative on errors. */
  adakv_model_screen(model: number): number;
  /** Writes the resident weight bytes, the parameters and the classifier screen's bytes (doubles) at `out`. */
  adakv_model_stats(model: number, out: number): number;
  /**
   * Runs a prompt (or a chunk of one at positions `start ..`, after a sequence holding exactly positions
   * `0 .. start-1`) through the model into a pool's sequence; writes the logits and each layer's post-RoPE
   * q, k, v.
   */
  adakv_prefill(model: number, pool: number, sequence: number, tokens: number, count: number, start: number, logits: number, queries: number, keys: number, values: number): number;
  /**
   * One decode step for a batch of sequences; writes the logits, optionally the argmax of each row and the
   * post-RoPE queries.
   */
  adakv_decode(model: number, pool: number, batch: number, sequences: number, tokens: number, positions: number, logits: number, argmax: number, queries: number): number;
  /** The index of the largest of `count` floats. */
  adakv_argmax(values: number, count: number): number;
  /** Sets up `threads` worker threads with stacks of `stackBytes`. */
  adakv_threads_configure(threads: number, stackBytes: number): number;
  /** The top of worker `index`'s stack. */
  adakv_thread_stack_top(index: number): number;
  /** Runs worker `index`'s loop (called in the worker); returns when the threads stop. */
  adakv_thread_worker(index: number): number;
  /** Stops the worker threads. */
  adakv_threads_stop(): void;
  /** The address of the flag a failing worker sets. */
  adakv_threads_failed_flag(): number;
  /** Threads the engine runs on now. */
  adakv_threads_active(): number;
  /** Tasks each thread ran since the last call (thread 0 is the caller), into `out`; returns the threads. */
  adakv_threads_task_counts(out: number, capacity: number): number;
  /** What the build was compiled with: bit 0 atomics (threads), bit 1 relaxed SIMD, bit 2 SIMD128. */
  adakv_build_features(): number;
  /** Kernel for tests and benchmarks: `tokens` input rows times a weight matrix of `type`. */
  adakv_kernel_matmul(type: number, weights: number, rows: number, cols: number, x: number, tokens: number, out: number): number;
  /** Kernel for tests and benchmarks: one row of `type` to floats. */
  adakv_kernel_dequantize(type: number, row: number, cols: number, out: number): number;
  /** Kernel for tests and benchmarks: RMS normalization of `rows` rows. */
  adakv_kernel_rmsnorm(out: number, x: number, weight: number, rows: number, dim: number, eps: number): number;
  /** Kernel for tests and benchmarks: RoPE over `heads` heads of one vector (`style` 0 adjacent pairs, 1 NeoX rotate-half). */
  adakv_kernel_rope(vector: number, heads: number, headDim: number, cos: number, sin: number, style: number): number;
  /** Kernel for tests and benchmarks: `gate = silu(gate) * up`, in place. */
  adakv_kernel_swiglu(gate: number, up: number, count: number): number;
  /** Kernel for tests and benchmarks: softmax in place. */
  adakv_kernel_softmax(values: number, count: number): number;
  /** Kernel for tests and benchmarks: quantizes a row (`kind` 1: q8 per 32; 2: q8_K with sums). */
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
