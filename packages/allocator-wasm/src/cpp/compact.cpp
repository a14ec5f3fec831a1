#include <cstring>

#include "cache_ops.h"
#include "sequence.h"

namespace adakv {

namespace {

bool planIsValid(const Sequence* sequence, const HeadList* heads, const int32_t* keptCounts,
                 const int32_t* keptIndices) {
  size_t offset = 0;
  for (int32_t h = 0; h < sequence->kvHeads; h++) {
    const int32_t count = keptCounts[h];
    if (count < 0 || count > heads[h].length) return false;
    if (count > 0 && keptIndices == nullptr) return false;
    for (int32_t i = 0; i < count; i++) {
      const int32_t index = keptIndices[offset + i];
      if (index < 0 || index >= heads[h].length) return false;
      if (i > 0 && index <= keptIndices[offset + i - 1]) return false;
    }
    offset += static_cast<size_t>(count);
  }
  return true;
}

}  // namespace

int32_t compactRows(Pool* pool, Sequence* sequence, int32_t layer, const int32_t* keptCounts,
                    const int32_t* keptIndices) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (keptCounts == nullptr) return kInvalidArgument;
  HeadList* heads = &sequence->head(layer, 0);
  if (!planIsValid(sequence, heads, keptCounts, keptIndices)) return kInvalidPlan;

  const int32_t blockSize = pool->blockSize;
  const size_t rowBytes = pool->rowFloats() * sizeof(float);
  int32_t moved = 0;
  size_t offset = 0;
  for (int32_t h = 0; h < sequence->kvHeads; h++) {
    HeadList& head = heads[h];
    const int32_t count = keptCounts[h];
    // Ascending sources and source >= destination: each move reads a row no earlier move overwrote.
    for (int32_t destination = 0; destination < count; destination++) {
      const int32_t source = keptIndices[offset + destination];
      if (source == destination) continue;
      const int32_t fromBlock = head.blocks[source / blockSize], fromSlot = source % blockSize;
      const int32_t toBlock = head.blocks[destination / blockSize], toSlot = destination % blockSize;
      std::memcpy(pool->keyRow(toBlock, toSlot), pool->keyRow(fromBlock, fromSlot), rowBytes);
      std::memcpy(pool->valueRow(toBlock, toSlot), pool->valueRow(fromBlock, fromSlot), rowBytes);
      pool->position(toBlock, toSlot) = pool->position(fromBlock, fromSlot);
      moved++;
    }
    offset += static_cast<size_t>(count);
    head.length = count;
    releaseBlocksFrom(pool, head, static_cast<size_t>((count + blockSize - 1) / blockSize));
  }
  return moved;
}

}  // namespace adakv
