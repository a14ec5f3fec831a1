#include <cstring>

#include "cache_ops.h"

namespace adakv {

namespace {
int64_t blocksFor(int64_t rows, int32_t blockSize) { return (rows + blockSize - 1) / blockSize; }
}  // namespace

Status appendRows(Pool* pool, Sequence* sequence, int32_t layer, int32_t tokens, const float* keys,
                  const float* values, const int32_t* positions) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (tokens < 0) return kInvalidArgument;
  if (tokens == 0) return kOk;
  if (keys == nullptr || values == nullptr || positions == nullptr) return kInvalidArgument;
  const int32_t kvHeads = sequence->kvHeads;
  int64_t needed = 0;
  for (int32_t h = 0; h < kvHeads; h++) {
    HeadList& head = sequence->head(layer, h);
    const int64_t length = static_cast<int64_t>(head.length) + tokens;
    if (length > INT32_MAX) return kInvalidArgument;
    const int64_t blocks = blocksFor(length, pool->blockSize);
    needed += blocks - static_cast<int64_t>(head.blocks.size());
    // Growing a block table now is invisible to the caller if a later step fails.
    if (!head.blocks.reserve(static_cast<size_t>(blocks))) return kOutOfMemory;
  }
  const Status status = ensureFree(pool, needed);
  if (status != kOk) return status;

  const size_t rowBytes = pool->rowFloats() * sizeof(float);
  for (int32_t h = 0; h < kvHeads; h++) {
    HeadList& head = sequence->head(layer, h);
    for (int32_t t = 0; t < tokens; t++) {
      const int32_t slot = head.length % pool->blockSize;
      if (slot == 0) head.blocks.pushReserved(pool->freeBlocks.pop());
      const int32_t block = head.blocks.back();
      const size_t source = (static_cast<size_t>(t) * kvHeads + h) * pool->rowFloats();
      std::memcpy(pool->keyRow(block, slot), keys + source, rowBytes);
      std::memcpy(pool->valueRow(block, slot), values + source, rowBytes);
      pool->position(block, slot) = positions[t];
      head.length++;
    }
  }
  return kOk;
}

}  // namespace adakv
