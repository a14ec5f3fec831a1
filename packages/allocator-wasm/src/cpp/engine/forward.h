// The LLaMA-family forward pass over the paged pool: prefill of a prompt (or of a chunk of one, after the
// chunks before it), and one decode step for a batch of sequences. Same math as @adakv/core's TS
// Transformer (and llama2.c): RMSNorm, Q/K/V products (+ biases, Qwen 2), RoPE on adjacent or
// rotate-half pairs, grouped-query attention (any group), SwiGLU, final norm, classifier.
// Every check (shapes, tokens, positions, free blocks, work memory) runs before anything is written, so
// an error leaves every sequence as it was.
#pragma once
#include <cstdint>

#include "../pool.h"
#include "model.h"

namespace adakv {
namespace engine {

// tokens[n] at positions start..start+n-1 into `sequence` (shaped [layers][kvHeads] of the model, each
// head holding exactly positions 0..start-1 in order: empty for start 0, else what earlier chunks left;
// kInvalidArgument otherwise), the post-RoPE K/V of the n tokens appended to it; logits[vocab] after the
// last token. Each row attends causally over the head's blocks in place (earlier chunks and its own
// chunk up to itself), computed as a decode step at its position would be: whole, chunked and
// token-by-token prompts give the same bits. Work memory grows with n, not with start. When not null,
// queries/keys/values receive each layer's post-RoPE vectors [layers][n][heads][headDim].
Status prefill(Model* model, Pool* pool, Sequence* sequence, const int32_t* tokens, int32_t n, int32_t start,
               float* logits, float* queries, float* keys, float* values);

// One token for each of `batch` distinct sequences: token i at positions[i] appended to sequences[i],
// attention over that sequence's paged cache in place; logits [batch][vocab]. The matrix products read
// each weight row once for the whole batch. When argmax is not null it receives each row's argmax
// token (-1 where a logit is not finite); logits may then be null, and the classifier screen
// (classifier_screen.h) gives the same tokens without computing every logit. When not null, queries
// receives each layer's post-RoPE query rows [layers][batch][queryHeads][headDim] (what decode-time
// eviction scores with).
Status decode(Model* model, Pool* pool, Sequence* const* sequences, const int32_t* tokens, const int32_t* positions,
              int32_t batch, float* logits, int32_t* argmax, float* queries);

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
