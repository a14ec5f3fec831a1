#include <cstdlib>
#include <cstring>

#include "residuals.h"
#include "cache_ops.h"
#include "sequence.h"

namespace adakv {

namespace {
// Where row t of head h finds its position: one per token, or one per (token, head).
struct Positions {
  const int32_t* data;
  int32_t stride;  // 1: [tokens]; kvHeads: [tokens][kvHeads]
  int32_t at(int32_t t, int32_t h) const { return data[static_cast<size_t>(t) * stride + (stride == 1 ? 0 : h)]; }
};

int64_t blocksFor(int64_t rows, int32_t blockSize) { return (rows + blockSize - 1) / blockSize; }

// f32: rows copied as they are.
void appendF32(Pool* pool, HeadList& head, int32_t h, int32_t kvHeads, int32_t tokens, const float* keys,
               const float* values, Positions positions) {
  const size_t rowBytes = pool->rowFloats() * sizeof(float);
  for (int32_t t = 0; t < tokens; t++) {
    const int32_t slot = head.length % pool->blockSize;
    if (slot == 0) head.blocks.pushReserved(pool->takeBlock(head.format));
    const int32_t block = head.blocks.back();
    const size_t source = (static_cast<size_t>(t) * kvHeads + h) * pool->rowFloats();
    std::memcpy(pool->keyRow(block, slot), keys + source, rowBytes);
    std::memcpy(pool->valueRow(block, slot), values + source, rowBytes);
    pool->position(block, slot) = positions.at(t, h);
    head.length++;
  }
}

// f16: each row encoded in place (no residual: every element stands alone).
void appendF16(Pool* pool, HeadList& head, int32_t h, int32_t kvHeads, int32_t tokens, const float* keys,
               const float* values, Positions positions) {
  const int32_t d = pool->headDim;
  for (int32_t t = 0; t < tokens; t++) {
    const int32_t slot = head.length % pool->blockSize;
    if (slot == 0) head.blocks.pushReserved(pool->takeBlock(head.format));
    const int32_t block = head.blocks.back();
    const size_t source = (static_cast<size_t>(t) * kvHeads + h) * pool->rowFloats();
    uint16_t* k = reinterpret_cast<uint16_t*>(pool->blockBytesAt(block) + pool->layout(kFormatF16).keys) + static_cast<size_t>(slot) * d;
    uint16_t* v = reinterpret_cast<uint16_t*>(pool->blockBytesAt(block) + pool->layout(kFormatF16).values) + static_cast<size_t>(slot) * d;
    for (int32_t c = 0; c < d; c++) {
      k[c] = storedHalf(keys[source + c]);
      v[c] = storedHalf(values[source + c]);
    }
    pool->position(block, slot) = positions.at(t, h);
    head.length++;
  }
}

// int8/int4: rows go to the head's residual (given, owned by the head from now on); a block is encoded
// when it fills. A partly filled encoded last block (left by compaction) is first decoded into it.
void appendQuantized(Pool* pool, HeadList& head, float* residual, int32_t h, int32_t kvHeads, int32_t tokens,
                     const float* keys, const float* values, Positions positions) {
  const int32_t d = pool->headDim, blockSize = pool->blockSize;
  const size_t half = static_cast<size_t>(blockSize) * d;
  if (head.residual == nullptr) {
    head.residual = residual;
    const int32_t filled = head.length % blockSize;
    for (int32_t slot = 0; slot < filled; slot++) {
      decodeRow(head.format, blockSize, d, pool->blockBytesAt(head.blocks.back()), 0, slot, residual + static_cast<size_t>(slot) * d);
      decodeRow(head.format, blockSize, d, pool->blockBytesAt(head.blocks.back()), 1, slot, residual + half + static_cast<size_t>(slot) * d);
    }
  }
  for (int32_t t = 0; t < tokens; t++) {
    const int32_t slot = head.length % blockSize;
    if (slot == 0) head.blocks.pushReserved(pool->takeBlock(head.format));
    const int32_t block = head.blocks.back();
    const size_t source = (static_cast<size_t>(t) * kvHeads + h) * pool->rowFloats();
    std::memcpy(head.residual + static_cast<size_t>(slot) * d, keys + source, static_cast<size_t>(d) * sizeof(float));
    std::memcpy(head.residual + half + static_cast<size_t>(slot) * d, values + source, static_cast<size_t>(d) * sizeof(float));
    pool->position(block, slot) = positions.at(t, h);
    head.length++;
    if (slot + 1 == blockSize) encodeBlock(head.format, blockSize, d, head.residual, head.residual + half, blockSize, pool->blockBytesAt(block));
  }
  if (head.length % blockSize == 0) dropResidual(head);
}

}  // namespace

Status appendRows(Pool* pool, Sequence* sequence, int32_t layer, int32_t tokens, const float* keys,
                  const float* values, const int32_t* positions, bool positionsPerHead) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (tokens < 0) return kInvalidArgument;
  if (tokens == 0) return kOk;
  if (keys == nullptr || values == nullptr || positions == nullptr) return kInvalidArgument;
  const int32_t kvHeads = sequence->kvHeads;
  BlockNeeds needed;
  for (int32_t h = 0; h < kvHeads; h++) {
    HeadList& head = sequence->head(layer, h);
    const int64_t length = static_cast<int64_t>(head.length) + tokens;
    if (length > INT32_MAX) return kInvalidArgument;
    const int64_t blocks = blocksFor(length, pool->blockSize);
    needed.blocks[head.format] += blocks - static_cast<int64_t>(head.blocks.size());
    // Growing a block table now is invisible to the caller if a later step fails.
    if (!head.blocks.reserve(static_cast<size_t>(blocks))) return kOutOfMemory;
  }
  // Residual rows for the heads that lack them, all taken before anything is written.
  ResidualBuffers residuals;
  Status status = residuals.take(pool, &sequence->head(layer, 0), kvHeads);
  if (status != kOk) return status;
  status = ensureFree(pool, needed);
  if (status != kOk) return status;

  const Positions at{positions, positionsPerHead ? kvHeads : 1};
  for (int32_t h = 0; h < kvHeads; h++) {
    HeadList& head = sequence->head(layer, h);
    if (head.format == kFormatF32) {
      appendF32(pool, head, h, kvHeads, tokens, keys, values, at);
    } else if (head.format == kFormatF16) {
      appendF16(pool, head, h, kvHeads, tokens, keys, values, at);
    } else {
      appendQuantized(pool, head, residuals.give(h), h, kvHeads, tokens, keys, values, at);
    }
  }
  return kOk;
}

}  // namespace adakv
