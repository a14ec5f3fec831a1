// The C ABI of the allocator (defined in exports.cpp): what allocator.wasm exports and what the native
// sanitizer and fuzz builds call. Negative returns are adakv::Status codes (status.h).
#pragma once
#include <cstdint>

extern "C" {
int32_t adakv_pool_create(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks);
// A pool whose blocks hold K/V in `format` (kv_format.h: 0 f32, 1 f16, 2 int8, 3 int4); the call above
// is this with f32.
int32_t adakv_pool_create_format(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks,
                                 int32_t format);
int32_t adakv_pool_destroy(int32_t pool);
int32_t adakv_pool_stats(int32_t pool, double* out);
int32_t adakv_pool_check(int32_t pool);
int32_t adakv_sequence_add(int32_t pool, int32_t layers, int32_t kvHeads);
// A sequence whose heads store their blocks in `formats` (layers x kvHeads KvFormats, layer-major):
// precision per layer and KV head in one pool. Null: the pool's format for every head.
int32_t adakv_sequence_add_formats(int32_t pool, int32_t layers, int32_t kvHeads, const int32_t* formats);
int32_t adakv_sequence_remove(int32_t pool, int32_t sequence);
int32_t adakv_sequence_stats(int32_t pool, int32_t sequence, double* out);
int32_t adakv_append(int32_t pool, int32_t sequence, int32_t layer, int32_t tokens, const float* keys,
                     const float* values, const int32_t* positions);
// As adakv_append with positions [tokens][kvHeads]: each head's rows carry their own positions.
int32_t adakv_append_heads(int32_t pool, int32_t sequence, int32_t layer, int32_t tokens, const float* keys,
                           const float* values, const int32_t* positions);
int32_t adakv_compact(int32_t pool, int32_t sequence, int32_t layer, const int32_t* keptCounts,
                      const int32_t* keptIndices);
int32_t adakv_length(int32_t pool, int32_t sequence, int32_t layer, int32_t head);
int32_t adakv_head_format(int32_t pool, int32_t sequence, int32_t layer, int32_t head);
int32_t adakv_read_rows(int32_t pool, int32_t sequence, int32_t layer, int32_t head, int32_t kind, float* out);
int32_t adakv_read_positions(int32_t pool, int32_t sequence, int32_t layer, int32_t head, int32_t* out);
int32_t adakv_layer_blocks(int32_t pool, int32_t sequence, int32_t layer);
int32_t adakv_flatten(int32_t pool, int32_t sequence, int32_t layer, int32_t* cuSeqlens, int32_t* cuBlocks,
                      int32_t* blockTable, uintptr_t* blockAddresses);
int32_t adakv_attend(int32_t pool, int32_t sequence, int32_t layer, int32_t queryHeads, const float* queries,
                     float* out);
// Causal attention of `rows` query rows [rows][queryHeads][headDim]: row t over each KV head's first
// start + t + 1 rows (attention.h, attendCausal).
int32_t adakv_attend_causal(int32_t pool, int32_t sequence, int32_t layer, int32_t queryHeads, int32_t rows,
                            int32_t start, const float* queries, float* out);
int32_t adakv_select_adaptive(const float* scores, int32_t heads, int32_t prefixLength, int32_t selectable,
                              double alpha, int32_t* caps, int32_t* keptIndices);
}
