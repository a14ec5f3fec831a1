// Decode attention of one token over a sequence's paged cache, reading K/V in their blocks.
#pragma once
#include <cstddef>
#include <cstdint>

#include "pool.h"

namespace adakv {

// queries and out are [queryHeads][headDim]; query head q reads KV head q / (queryHeads / kvHeads).
// softmax(q K^T / sqrt(headDim)) V with an online (block-by-block) softmax; an empty head gives zeros.
Status attendLayer(Pool* pool, Sequence* sequence, int32_t layer, int32_t queryHeads, const float* queries,
                   float* out);

// Floats of scratch attendHeads needs for `heads` KV heads of `group` query heads each.
size_t attendScratchFloats(const Pool* pool, int32_t group, int32_t heads);

// Causal (prefill) attention over the paged cache: `rows` query rows [rows][queryHeads][headDim] at
// cache rows start .. start + rows - 1; row t of every KV head attends over that head's first
// start + t + 1 rows (each head must hold at least start + rows), read in place from the blocks, into
// out [rows][queryHeads][headDim]. Row t is computed exactly as a decode step over a head of
// start + t + 1 rows (attendHeads), so a prompt prefilled whole, in chunks or token by token gives the
// same bits. Tasks (row, KV head) over the engine's threads; scratch bounded by the block size.
Status attendCausal(Pool* pool, Sequence* sequence, int32_t layer, int32_t queryHeads, int32_t rows, int32_t start,
                    const float* queries, float* out);

// `count` KV heads, each with the `group` query heads that share it: queries/out [count][group][headDim].
// Each K and V row is loaded once for all `group` heads: tiles of 4 query heads with one head per lane
// (logits, online softmax and exponentials for the 4 heads in one vector), the group % 4 others in
// tiles of 2 and 1; the next block touched while one is computed. No allocation (workers call it).
// lengths[h], when given, is how many of head h's first rows to attend over (default: all it holds).
void attendHeads(const Pool* pool, const HeadList* const* heads, int32_t count, int32_t group, const float* queries,
                 float* out, float* scratch, const int32_t* lengths = nullptr);

}  // namespace adakv
