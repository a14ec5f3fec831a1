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

// `count` KV heads, each with the `group` query heads that share it: queries/out [count][group][headDim].
// Each K and V row is loaded once for all `group` heads: tiles of 4 query heads with one head per lane
// (logits, online softmax and exponentials for the 4 heads in one vector), the group % 4 others in
// tiles of 2 and 1; the next block touched while one is computed. No allocation (workers call it).
void attendHeads(const Pool* pool, const HeadList* const* heads, int32_t count, int32_t group, const float* queries,
                 float* out, float* scratch);

}  // namespace adakv
