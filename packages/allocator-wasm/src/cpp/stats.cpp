#include "stats.h"

#include <cstdlib>

namespace adakv {

void sequenceStats(const Pool* pool, const Sequence* sequence, double* out) {
  double blocks = 0, rows = 0, residual = 0, metadata = sizeof(Sequence);
  for (int32_t i = 0; i < sequence->layers * sequence->kvHeads; i++) {
    const HeadList& head = sequence->heads[i];
    blocks += static_cast<double>(head.blocks.size());
    rows += head.length;
    const double buffers = (head.residual != nullptr) + (head.spareResidual != nullptr);
    residual += buffers * static_cast<double>(pool->residualFloats() * sizeof(float));
    metadata += sizeof(HeadList) + static_cast<double>(head.blocks.bytes());
  }
  const double blockBytes = static_cast<double>(pool->blockBytes());
  // Each block also carries blockSize original positions.
  metadata += blocks * pool->blockSize * sizeof(int32_t);
  out[kSeqBlocks] = blocks;
  out[kSeqRows] = rows;
  out[kSeqHeldBytes] = blocks * blockBytes + residual;
  out[kSeqMetadataBytes] = metadata;
  out[kSeqResidualBytes] = residual;
}

void poolStats(const Pool* pool, double* out) {
  double rows = 0, sequences = 0, residual = 0;
  double metadata = sizeof(Pool) + static_cast<double>(pool->chunks.bytes() + pool->blockBase.bytes() +
                                                       pool->positions.bytes() + pool->freeBlocks.bytes() +
                                                       pool->sequences.bytes() + pool->generations.bytes());
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
  const double blockBytes = static_cast<double>(pool->blockBytes());
  out[kStatTotalBlocks] = total;
  out[kStatFreeBlocks] = free;
  out[kStatUsedBlocks] = used;
  out[kStatBlockBytes] = blockBytes;
  out[kStatHeldBytes] = used * blockBytes + residual;
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
      if (head.residual != nullptr && (!formatNeedsResidual(pool->format) || head.length % pool->blockSize == 0)) ok = false;
      for (size_t b = 0; b < head.blocks.size() && ok; b++) mark(head.blocks[b]);
    }
  }
  for (size_t f = 0; f < pool->freeBlocks.size() && ok; f++) mark(pool->freeBlocks[f]);
  if (marked != total) ok = false;
  if (pool->freeBlocks.capacity() < total) ok = false;
  std::free(seen);
  return ok ? kOk : kInvariantBroken;
}

}  // namespace adakv
