#include "stats.h"

#include <cstdlib>

namespace adakv {

void sequenceStats(const Pool* pool, const Sequence* sequence, double* out) {
  double blocks = 0, blockBytes = 0, rows = 0, residual = 0, metadata = sizeof(Sequence);
  for (int32_t i = 0; i < sequence->layers * sequence->kvHeads; i++) {
    const HeadList& head = sequence->heads[i];
    blocks += static_cast<double>(head.blocks.size());
    blockBytes += static_cast<double>(head.blocks.size()) * static_cast<double>(pool->blockBytes(head.format));
    rows += head.length;
    const double buffers = (head.residual != nullptr) + (head.spareResidual != nullptr);
    residual += buffers * static_cast<double>(pool->residualFloats() * sizeof(float));
    metadata += sizeof(HeadList) + static_cast<double>(head.blocks.bytes());
  }
  // Each block also carries blockSize original positions.
  metadata += blocks * pool->blockSize * sizeof(int32_t);
  out[kSeqBlocks] = blocks;
  out[kSeqRows] = rows;
  out[kSeqHeldBytes] = blockBytes + residual;
  out[kSeqMetadataBytes] = metadata;
  out[kSeqResidualBytes] = residual;
}

void poolStats(const Pool* pool, double* out) {
  double rows = 0, sequences = 0, residual = 0;
  double metadata = sizeof(Pool) + static_cast<double>(pool->chunks.bytes() + pool->blockBase.bytes() +
                                                       pool->positions.bytes() + pool->blockFormats.bytes() +
                                                       pool->sequences.bytes() + pool->generations.bytes());
  for (int32_t f = 0; f < kFormatCount; f++) metadata += static_cast<double>(pool->freeBlocks[f].bytes());
  for (size_t s = 0; s < pool->sequences.size(); s++) {
    const Sequence* sequence = pool->sequences[s];
    if (sequence == nullptr) continue;
    double seq[kSequenceStatCount];
    sequenceStats(pool, sequence, seq);
    rows += seq[kSeqRows];
    residual += seq[kSeqResidualBytes];
    // Positions are already counted in the pool's positions array.
    metadata += seq[kSeqMetadataBytes] - seq[kSeqBlocks] * pool->blockSize * sizeof(int32_t);
    sequences += 1;
  }
  const double total = pool->totalBlocks(), free = pool->freeCount(), used = total - free;
  double usedBytes = 0;
  for (int32_t f = 0; f < kFormatCount; f++) {
    usedBytes += static_cast<double>(pool->formatBlocks[f] - pool->freeCount(f)) * static_cast<double>(pool->blockBytes(f));
  }
  out[kStatTotalBlocks] = total;
  out[kStatFreeBlocks] = free;
  out[kStatUsedBlocks] = used;
  out[kStatBlockBytes] = static_cast<double>(pool->blockBytes());
  out[kStatHeldBytes] = usedBytes + residual;
  out[kStatStoredRows] = rows;
  out[kStatWastedRows] = used * pool->blockSize - rows;
  out[kStatMetadataBytes] = metadata;
  out[kStatSequences] = sequences;
  out[kStatResidualBytes] = residual;
  out[kStatFormat] = pool->format;
}

Status checkPool(const Pool* pool) {
  const size_t total = static_cast<size_t>(pool->totalBlocks());
  unsigned char* seen = static_cast<unsigned char*>(std::calloc(total > 0 ? total : 1, 1));
  if (seen == nullptr) return kOutOfMemory;
  bool ok = true;
  size_t marked = 0;
  auto mark = [&](int32_t block) {
    if (block < 0 || static_cast<size_t>(block) >= total || seen[block]) {
      ok = false;
      return;
    }
    seen[block] = 1;
    marked++;
  };
  for (size_t s = 0; s < pool->sequences.size() && ok; s++) {
    const Sequence* sequence = pool->sequences[s];
    if (sequence == nullptr) continue;
    for (int32_t i = 0; i < sequence->layers * sequence->kvHeads && ok; i++) {
      const HeadList& head = sequence->heads[i];
      const size_t expected = (static_cast<size_t>(head.length) + pool->blockSize - 1) / pool->blockSize;
      if (head.length < 0 || head.blocks.size() != expected) ok = false;
      if (head.residual != nullptr && (!formatNeedsResidual(head.format) || head.length % pool->blockSize == 0)) ok = false;
      if (!pool->holdsFormat(head.format)) ok = false;
      for (size_t b = 0; b < head.blocks.size() && ok; b++) {
        mark(head.blocks[b]);
        if (ok && pool->blockFormats[head.blocks[b]] != head.format) ok = false;
      }
    }
  }
  int32_t formatTotal = 0;
  for (int32_t f = 0; f < kFormatCount && ok; f++) {
    const GrowArray<int32_t>& free = pool->freeBlocks[f];
    for (size_t i = 0; i < free.size() && ok; i++) {
      mark(free[i]);
      if (ok && pool->blockFormats[free[i]] != f) ok = false;
    }
    if (free.capacity() < static_cast<size_t>(pool->formatBlocks[f])) ok = false;
    formatTotal += pool->formatBlocks[f];
  }
  if (marked != total || static_cast<size_t>(formatTotal) != total || pool->blockFormats.size() != total) ok = false;
  std::free(seen);
  return ok ? kOk : kInvariantBroken;
}

}  // namespace adakv
