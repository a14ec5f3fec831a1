#include <cstdlib>
#include <cstring>

#include "cache_ops.h"
#include "head_rows.h"
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

// f16/int8/int4: from the first block that changes on, each destination block's rows are decoded into
// `scratch` ([blockSize][d] K then V), then the block is encoded again (f16 exactly; int8/int4 with
// scales over its new rows, which adds at most half a new scale per element). Sources are ascending
// and never before their destination, so a block is read whole before it is written. The partly
// filled last block this writes is encoded over its rows: its residual goes.
int32_t compactEncoded(Pool* pool, HeadList& head, int32_t count, const int32_t* kept, float* scratch) {
  const int32_t blockSize = pool->blockSize, d = pool->headDim;
  int32_t first = 0;
  while (first < count && kept[first] == first) first++;
  const size_t keepBlocks = static_cast<size_t>((count + blockSize - 1) / blockSize);
  if (first == count) {  // nothing moves: the rows past `count` are dropped
    head.length = count;
    releaseBlocksFrom(pool, head, keepBlocks);
    return 0;
  }
  float* keys = scratch;
  float* values = scratch + static_cast<size_t>(blockSize) * d;
  int32_t moved = 0;
  for (int32_t b = first / blockSize; b * blockSize < count; b++) {
    const int32_t begin = b * blockSize;
    const int32_t rows = count - begin < blockSize ? count - begin : blockSize;
    const int32_t block = head.blocks[static_cast<size_t>(b)];
    for (int32_t slot = 0; slot < rows; slot++) {
      const int32_t source = kept[begin + slot];
      readRow(pool, head, source, 0, keys + static_cast<size_t>(slot) * d);
      readRow(pool, head, source, 1, values + static_cast<size_t>(slot) * d);
      pool->position(block, slot) = pool->position(head.blocks[static_cast<size_t>(source / blockSize)], source % blockSize);
      moved += source != begin + slot;
    }
    encodeBlock(head.format, blockSize, d, keys, values, rows, pool->blockBytesAt(block));
    if (head.residualBlock(static_cast<size_t>(b))) dropResidual(head);
  }
  head.length = count;
  releaseBlocksFrom(pool, head, keepBlocks);
  return moved;
}

}  // namespace

int32_t compactRows(Pool* pool, Sequence* sequence, int32_t layer, const int32_t* keptCounts,
                    const int32_t* keptIndices) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (keptCounts == nullptr) return kInvalidArgument;
  HeadList* heads = &sequence->head(layer, 0);
  if (!planIsValid(sequence, heads, keptCounts, keptIndices)) return kInvalidPlan;

  float* scratch = nullptr;
  for (int32_t h = 0; h < sequence->kvHeads && scratch == nullptr; h++) {
    if (heads[h].format == kFormatF32) continue;
    scratch = static_cast<float*>(std::malloc(pool->residualFloats() * sizeof(float)));
    if (scratch == nullptr) return kOutOfMemory;
  }
  const int32_t blockSize = pool->blockSize;
  const size_t rowBytes = pool->rowFloats() * sizeof(float);
  int32_t moved = 0;
  size_t offset = 0;
  for (int32_t h = 0; h < sequence->kvHeads; h++) {
    HeadList& head = heads[h];
    const int32_t count = keptCounts[h];
    if (head.format != kFormatF32) {
      moved += compactEncoded(pool, head, count, keptIndices + offset, scratch);
      offset += static_cast<size_t>(count);
      continue;
    }
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
  std::free(scratch);
  return moved;
}

}  // namespace adakv
