// Decode attention of one token over a sequence's paged cache, reading K/V in their blocks.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// queries and out are [queryHeads][headDim]; query head q reads KV head q / (queryHeads / kvHeads).
// softmax(q K^T / sqrt(headDim)) V with an online (block-by-block) softmax; an empty head gives zeros.
Status attendLayer(Pool* pool, Sequence* sequence, int32_t layer, int32_t queryHeads, const float* queries,
                   float* out);

}  // namespace adakv
