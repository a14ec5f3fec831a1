// The engine's C ABI (defined in engine_exports.cpp), exported by every allocator*.wasm variant next
// to the pool's ABI (../adakv.h); the native test builds call it too. Negative returns are
// adakv::Status codes. Pointers are byte offsets in linear memory.
#pragma once
#include <cstdint>

extern "C" {
// config: dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength, tiedClassifier,
// ropeStyle (0 adjacent pairs, 1 NeoX rotate-half).
int32_t adakv_model_create(const int32_t* config, float normEps);
int32_t adakv_model_destroy(int32_t model);
// Reserves a tensor (slot/layer/type as model.h, byteLength exactly its bytes) and writes where to put
// the bytes into *address.
int32_t adakv_model_tensor(int32_t model, int32_t slot, int32_t layer, int32_t type, uint32_t byteLength,
                           uintptr_t* address);
int32_t adakv_model_ready(int32_t model);
// Builds greedy decode's screen of an f32 classifier (classifier_screen.h): 1 built, 0 none for this
// classifier (not f32, or weights it cannot bound), negative on errors. A new classifier drops it.
int32_t adakv_model_screen(int32_t model);
// out[0] resident weight bytes, out[1] parameters, out[2] the classifier screen's bytes (0 without one).
int32_t adakv_model_stats(int32_t model, double* out);
// tokens[count] at positions start..start+count-1; the sequence holds exactly positions 0..start-1.
int32_t adakv_prefill(int32_t model, int32_t pool, int32_t sequence, const int32_t* tokens, int32_t count, int32_t start,
                      float* logits, float* queries, float* keys, float* values);
// argmaxOut may be null; otherwise argmaxOut[i] = argmax of logits row i, -1 when the row is not all
// finite. With argmaxOut, logits may be null: greedy decode, through the classifier screen when built. queriesOut may be null;
// otherwise it receives each layer's post-RoPE query rows [layers][batch][queryHeads][headDim].
int32_t adakv_decode(int32_t model, int32_t pool, int32_t batch, const int32_t* sequences, const int32_t* tokens,
                     const int32_t* positions, float* logits, int32_t* argmaxOut, float* queriesOut);
int32_t adakv_argmax(const float* values, int32_t count);

int32_t adakv_threads_configure(int32_t threads, int32_t stackBytes);
uintptr_t adakv_thread_stack_top(int32_t index);
int32_t adakv_thread_worker(int32_t index);
void adakv_threads_stop(void);
uintptr_t adakv_threads_failed_flag(void);
int32_t adakv_threads_active(void);
// Tasks each thread ran since the last call (thread 0 = the caller), into out; returns the threads.
int32_t adakv_threads_task_counts(int32_t* out, int32_t capacity);
// What this build was compiled with: bit 0 atomics (the threads variants), bit 1 relaxed SIMD, bit 2 SIMD128.
int32_t adakv_build_features(void);

// Kernels, for tests and benchmarks.
int32_t adakv_kernel_matmul(int32_t type, const uint8_t* weights, int32_t rows, int32_t cols, const float* x,
                            int32_t tokens, float* out);
int32_t adakv_kernel_dequantize(int32_t type, const uint8_t* row, int32_t cols, float* out);
int32_t adakv_kernel_rmsnorm(float* out, const float* x, const float* weight, int32_t rows, int32_t dim, float eps);
// style 0: adjacent pairs (2j, 2j + 1); 1: NeoX pairs (j, j + headDim / 2).
int32_t adakv_kernel_rope(float* vector, int32_t heads, int32_t headDim, const float* cos, const float* sin, int32_t style);
int32_t adakv_kernel_swiglu(float* gate, const float* up, int32_t count);
int32_t adakv_kernel_softmax(float* values, int32_t count);
// kind 1: q8 per 32 (q, d); kind 2: q8_K (q, d, sums).
int32_t adakv_kernel_quantize(int32_t kind, const float* x, int32_t cols, int16_t* q, float* d, int32_t* sums);
}
