// Writes and reads of one sequence's cache: append, compaction, copies out and the flattened view.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// Appends `tokens` rows to every KV head of `layer`; keys/values are [tokens][kvHeads][headDim], positions
// [tokens] (or [tokens][kvHeads] with `positionsPerHead`, when heads keep different tokens); stored
// in each head's format (f16 rows encoded in place; int8/int4 rows through the head's residual, a block
// encoded when it fills). All blocks and residual rows are secured before anything is written, so a
// failure leaves the sequence unchanged.
Status appendRows(Pool* pool, Sequence* sequence, int32_t layer, int32_t tokens, const float* keys,
                  const float* values, const int32_t* positions, bool positionsPerHead = false);

// Keeps, per KV head, the rows listed (strictly ascending) in the head's slice of `keptIndices`;
// `keptCounts[h]` rows for head h. Survivors move forward into holes in order; whole trailing blocks
// return to the pool. The plan is checked in full before anything moves. Returns rows moved. In
// f16/int8/int4 heads the blocks from the first changed one on are decoded and encoded again (compact.cpp).
int32_t compactRows(Pool* pool, Sequence* sequence, int32_t layer, const int32_t* keptCounts,
                    const int32_t* keptIndices);

}  // namespace adakv
