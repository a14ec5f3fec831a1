#include "pool.h"

#include <cstdlib>
#include <new>

namespace adakv {

namespace {
constexpr int32_t kMaxBlockSize = 1024;
constexpr int32_t kMaxHeadDim = 4096;
}  // namespace

Status createPool(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks, int32_t format,
                  Pool** out) {
  if (headDim <= 0 || headDim > kMaxHeadDim) return kInvalidArgument;
  if (!formatFits(format, headDim)) return kInvalidArgument;
  if (blockSize <= 0 || blockSize > kMaxBlockSize) return kInvalidArgument;
  if (initialBlocks < 0 || maxBlocks < initialBlocks || maxBlocks <= 0) return kInvalidArgument;
  // Every row index of the pool (block * blockSize + slot) must fit an int32.
  if (static_cast<int64_t>(maxBlocks) * blockSize > INT32_MAX) return kInvalidArgument;
  Pool* pool = new (std::nothrow) Pool();
  if (pool == nullptr) return kOutOfMemory;
  pool->headDim = headDim;
  pool->blockSize = blockSize;
  pool->maxBlocks = maxBlocks;
  pool->format = format;
  for (int32_t f = 0; f < kFormatCount; f++) pool->layouts[f] = blockLayout(f, blockSize, headDim);
  if (initialBlocks > 0) {
    Status status = growPool(pool, initialBlocks, format);
    if (status != kOk) {
      destroyPool(pool);
      return status;
    }
  }
  *out = pool;
  return kOk;
}

void destroyPool(Pool* pool) {
  for (size_t s = 0; s < pool->sequences.size(); s++) {
    Sequence* sequence = pool->sequences[s];
    if (sequence == nullptr) continue;
    for (int32_t i = 0; i < sequence->layers * sequence->kvHeads; i++) {
      std::free(sequence->heads[i].residual);
      std::free(sequence->heads[i].spareResidual);
      sequence->heads[i].~HeadList();
    }
    std::free(sequence->heads);
    delete sequence;
  }
  for (size_t c = 0; c < pool->chunks.size(); c++) std::free(pool->chunks[c]);
  delete pool;
}

Status growPool(Pool* pool, int32_t count, int32_t format) {
  if (count <= 0) return kOk;
  const int64_t total = static_cast<int64_t>(pool->totalBlocks()) + count;
  if (total > pool->maxBlocks) return kPoolExhausted;
  const size_t blockBytes = pool->blockBytes(format);
  const uint64_t chunkBytes = static_cast<uint64_t>(count) * blockBytes;
  if (chunkBytes > SIZE_MAX) return kOutOfMemory;
  GrowArray<int32_t>& free = pool->freeBlocks[format];
  // Reserve every metadata array first so the commit below cannot fail halfway.
  if (!pool->chunks.reserve(pool->chunks.size() + 1) || !pool->blockBase.reserve(static_cast<size_t>(total)) ||
      !pool->blockFormats.reserve(static_cast<size_t>(total)) ||
      !pool->positions.reserve(static_cast<size_t>(total) * pool->blockSize) ||
      !free.reserve(static_cast<size_t>(pool->formatBlocks[format]) + count)) {
    return kOutOfMemory;
  }
  unsigned char* chunk = static_cast<unsigned char*>(std::malloc(static_cast<size_t>(chunkBytes)));
  if (chunk == nullptr) return kOutOfMemory;
  const int32_t first = pool->totalBlocks();
  pool->chunks.pushReserved(reinterpret_cast<float*>(chunk));
  for (int32_t i = 0; i < count; i++) {
    pool->blockBase.pushReserved(reinterpret_cast<float*>(chunk + static_cast<size_t>(i) * blockBytes));
    pool->blockFormats.pushReserved(static_cast<uint8_t>(format));
  }
  pool->positions.resize(static_cast<size_t>(total) * pool->blockSize, -1);
  pool->formatBlocks[format] += count;
  // Pushed in descending order so blocks are handed out in ascending order.
  for (int32_t block = first + count - 1; block >= first; block--) free.pushReserved(block);
  return kOk;
}

namespace {
int64_t missingBlocks(const Pool* pool, const BlockNeeds& needs, int32_t f) {
  const int64_t missing = needs.blocks[f] - pool->freeCount(f);
  return missing > 0 ? missing : 0;
}
}  // namespace

bool poolCanHold(const Pool* pool, const BlockNeeds& needs) {
  int64_t missing = 0;
  for (int32_t f = 0; f < kFormatCount; f++) missing += missingBlocks(pool, needs, f);
  return missing <= static_cast<int64_t>(pool->maxBlocks) - pool->totalBlocks();
}

Status ensureFree(Pool* pool, const BlockNeeds& needs) {
  if (!poolCanHold(pool, needs)) return kPoolExhausted;
  int64_t stillMissing = 0;
  for (int32_t f = 0; f < kFormatCount; f++) stillMissing += missingBlocks(pool, needs, f);
  for (int32_t f = 0; f < kFormatCount; f++) {
    const int64_t missing = missingBlocks(pool, needs, f);
    if (missing == 0) continue;
    stillMissing -= missing;
    // Doubling this format's blocks, leaving room for what the other formats still miss.
    const int64_t room = static_cast<int64_t>(pool->maxBlocks) - pool->totalBlocks() - stillMissing;
    int64_t doubling = pool->formatBlocks[f];
    if (doubling > room) doubling = room;
    const int32_t count = static_cast<int32_t>(missing > doubling ? missing : doubling);
    Status status = growPool(pool, count, f);
    // When doubling asks too much of the heap, the exact shortfall may still fit.
    if (status == kOutOfMemory && count > missing) status = growPool(pool, static_cast<int32_t>(missing), f);
    if (status != kOk) return status;
  }
  return kOk;
}

}  // namespace adakv
