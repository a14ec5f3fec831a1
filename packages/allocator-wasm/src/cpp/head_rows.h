// One row of a head, whatever holds it (an f32 block, the head's residual, an encoded block), as f32.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// Row `row` of `head`, K for kind 0 and V for kind 1, into out[headDim]: the values attention reads.
void readRow(const Pool* pool, const HeadList& head, int32_t row, int32_t kind, float* out);

}  // namespace adakv
