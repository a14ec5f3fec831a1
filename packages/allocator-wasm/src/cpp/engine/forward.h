// The LLaMA forward pass over the paged pool: prefill of a prompt into an empty sequence, and one decode
// step for a batch of sequences. Same math as @adakv/core's TS Transformer (and llama2.c): RMSNorm,
// RoPE on adjacent pairs, grouped-query attention, SwiGLU, final norm, classifier.
// Every check (shapes, tokens, positions, free blocks, work memory) runs before anything is written, so
// an error leaves every sequence as it was.
#pragma once
#include <cstdint>

#include "../pool.h"
#include "model.h"

namespace adakv {
namespace engine {

// tokens[n] at positions 0..n-1 into `sequence` (empty, shaped [layers][kvHeads] of the model), the
// post-RoPE K/V of all n tokens appended to it; logits[vocab] after the last token. When not null,
// queries/keys/values receive each layer's post-RoPE vectors [layers][n][heads][headDim].
Status prefill(Model* model, Pool* pool, Sequence* sequence, const int32_t* tokens, int32_t n, float* logits,
               float* queries, float* keys, float* values);

// One token for each of `batch` distinct sequences: token i at positions[i] appended to sequences[i],
// attention over that sequence's paged cache in place; logits [batch][vocab]. The matrix products read
// each weight row once for the whole batch. When not null, queries receives each layer's post-RoPE
// query rows [layers][batch][queryHeads][headDim] (what decode-time eviction scores with).
Status decode(Model* model, Pool* pool, Sequence* const* sequences, const int32_t* tokens, const int32_t* positions,
              int32_t batch, float* logits, float* queries);

}  // namespace engine
}  // namespace adakv

namespace adakv {
namespace engine {

// One product through the same job machinery as the forward pass (for tests and benchmarks): weights
// [rows][cols] of `type` at `data`, x [tokens][cols] f32, out [tokens][rows]. Allocates its
// quantized-activation buffers on the calling (main) thread.
Status matmulStandalone(const WeightView& w, const float* x, int32_t tokens, float* out);

}  // namespace engine
}  // namespace adakv
