// Accounting: what the pool and each sequence hold, and the consistency check the tests run after
// every operation.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// Layout of the doubles written by poolStats.
enum PoolStat : int32_t {
  kStatTotalBlocks,
  kStatFreeBlocks,
  kStatUsedBlocks,
  kStatBlockBytes,     // K + V bytes of one block in the pool's format, scales included
  kStatHeldBytes,      // bytes of the used blocks (each in its format) + residual bytes
  kStatStoredRows,     // rows held across all heads
  kStatWastedRows,     // empty row slots inside used blocks
  kStatMetadataBytes,  // block tables, positions, free list and bookkeeping
  kStatSequences,
  kStatResidualBytes,  // f32 rows of partly filled int8/int4 blocks (also in held bytes)
  kStatFormat,         // KvFormat of the pool (its heads' unless a sequence names others)
  kPoolStatCount,
};

// Layout of the doubles written by sequenceStats.
enum SequenceStat : int32_t { kSeqBlocks, kSeqRows, kSeqHeldBytes, kSeqMetadataBytes, kSeqResidualBytes, kSequenceStatCount };

void poolStats(const Pool* pool, double* out);
void sequenceStats(const Pool* pool, const Sequence* sequence, double* out);

// No block owned twice or both owned and free, free + used = total, every block table holds exactly
// ceil(length / blockSize) blocks all in the head's format, a residual only on a partly filled last
// block of an int8/int4 head, every free block on its format's list. kOk, kInvariantBroken, or kOutOfMemory for the check's scratch.
Status checkPool(const Pool* pool);

}  // namespace adakv
