// Copies out of the paged cache and the flattened (cu_seqlens-style) view for varlen kernels.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

enum RowKind : int32_t { kKeys = 0, kValues = 1 };

// Copies one head's K or V rows, [length][headDim], into `out` (decoded to f32: what attention reads).
// Returns the row count.
int32_t copyRows(Pool* pool, HeadList& head, int32_t kind, float* out);
// Copies one head's original positions into `out`. Returns the row count.
int32_t copyPositions(Pool* pool, HeadList& head, int32_t* out);

// Total blocks held by one layer of a sequence (the size of the flattened block table).
int32_t layerBlockCount(Sequence* sequence, int32_t layer);

// cuSeqlens[kvHeads + 1] and cuBlocks[kvHeads + 1] prefix sums of lengths and block counts,
// blockTable[layerBlockCount] the concatenated block ids, and, when not null, blockAddresses the
// byte address in linear memory of each listed block's start (f32: its K rows, V rows blockSize rows
// later; other formats: the layout in kv_format.h, the residual block's rows living elsewhere).
Status flattenLayer(Pool* pool, Sequence* sequence, int32_t layer, int32_t* cuSeqlens, int32_t* cuBlocks,
                    int32_t* blockTable, uintptr_t* blockAddresses);

}  // namespace adakv
