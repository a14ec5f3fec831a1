#include "views.h"

#include <cstring>

#include "head_rows.h"

namespace adakv {

int32_t copyRows(Pool* pool, HeadList& head, int32_t kind, float* out) {
  if (kind != kKeys && kind != kValues) return kInvalidArgument;
  if (head.length > 0 && out == nullptr) return kInvalidArgument;
  if (head.format != kFormatF32) {  // decoded row by row
    for (int32_t row = 0; row < head.length; row++) readRow(pool, head, row, kind, out + static_cast<size_t>(row) * pool->headDim);
    return head.length;
  }
  for (size_t b = 0; b < head.blocks.size(); b++) {
    const int32_t first = static_cast<int32_t>(b) * pool->blockSize;
    int32_t rows = head.length - first;
    if (rows > pool->blockSize) rows = pool->blockSize;
    const int32_t block = head.blocks[b];
    const float* source = kind == kKeys ? pool->keyRow(block, 0) : pool->valueRow(block, 0);
    std::memcpy(out + static_cast<size_t>(first) * pool->headDim, source,
                static_cast<size_t>(rows) * pool->rowFloats() * sizeof(float));
  }
  return head.length;
}

int32_t copyPositions(Pool* pool, HeadList& head, int32_t* out) {
  if (head.length > 0 && out == nullptr) return kInvalidArgument;
  for (int32_t row = 0; row < head.length; row++) {
    out[row] = pool->position(head.blocks[row / pool->blockSize], row % pool->blockSize);
  }
  return head.length;
}

int32_t layerBlockCount(Sequence* sequence, int32_t layer) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  size_t total = 0;
  for (int32_t h = 0; h < sequence->kvHeads; h++) total += sequence->head(layer, h).blocks.size();
  return static_cast<int32_t>(total);
}

Status flattenLayer(Pool* pool, Sequence* sequence, int32_t layer, int32_t* cuSeqlens, int32_t* cuBlocks,
                    int32_t* blockTable, uintptr_t* blockAddresses) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (cuSeqlens == nullptr || cuBlocks == nullptr) return kInvalidArgument;
  if (layerBlockCount(sequence, layer) > 0 && blockTable == nullptr) return kInvalidArgument;
  cuSeqlens[0] = 0;
  cuBlocks[0] = 0;
  for (int32_t h = 0; h < sequence->kvHeads; h++) {
    const HeadList& head = sequence->head(layer, h);
    const int32_t first = cuBlocks[h];
    for (size_t b = 0; b < head.blocks.size(); b++) {
      blockTable[first + b] = head.blocks[b];
      if (blockAddresses != nullptr) {
        blockAddresses[first + b] = reinterpret_cast<uintptr_t>(pool->blockBase[head.blocks[b]]);
      }
    }
    cuSeqlens[h + 1] = cuSeqlens[h] + head.length;
    cuBlocks[h + 1] = first + static_cast<int32_t>(head.blocks.size());
  }
  return kOk;
}

}  // namespace adakv
