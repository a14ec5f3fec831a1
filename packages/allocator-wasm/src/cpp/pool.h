// The block pool: fixed-size blocks of `blockSize` K rows then `blockSize` V rows of one KV head,
// handed to (sequence, layer, KV head) lists and returned on compaction or removal. Blocks live in
// chunks that never move once allocated, so growing the pool never copies the cache.
#pragma once
#include <cstdint>

#include "grow_array.h"
#include "status.h"

namespace adakv {

// One (sequence, layer, KV head): its block table and how many rows it holds.
struct HeadList {
  GrowArray<int32_t> blocks;
  int32_t length = 0;
};

struct Sequence {
  int32_t layers = 0;
  int32_t kvHeads = 0;
  HeadList* heads = nullptr;  // layers * kvHeads, layer-major

  HeadList& head(int32_t layer, int32_t kvHead) { return heads[layer * kvHeads + kvHead]; }
};

struct Pool {
  int32_t headDim = 0;
  int32_t blockSize = 0;
  int32_t maxBlocks = 0;
  GrowArray<float*> chunks;        // every chunk allocation, freed on destroy
  GrowArray<float*> blockBase;     // per block: its K rows; V rows follow at blockSize * headDim
  GrowArray<int32_t> positions;    // per block: blockSize original positions
  GrowArray<int32_t> freeBlocks;   // a stack; capacity always >= total blocks so pushes cannot fail
  GrowArray<Sequence*> sequences;  // slots; nullptr = free slot
  GrowArray<uint32_t> generations; // per slot, bumped on removal so stale handles are rejected

  int32_t totalBlocks() const { return static_cast<int32_t>(blockBase.size()); }
  int32_t freeCount() const { return static_cast<int32_t>(freeBlocks.size()); }
  size_t rowFloats() const { return static_cast<size_t>(headDim); }
  size_t blockFloats() const { return 2 * static_cast<size_t>(blockSize) * headDim; }

  float* keyRow(int32_t block, int32_t slot) { return blockBase[block] + static_cast<size_t>(slot) * headDim; }
  float* valueRow(int32_t block, int32_t slot) {
    return blockBase[block] + static_cast<size_t>(blockSize + slot) * headDim;
  }
  int32_t& position(int32_t block, int32_t slot) {
    return positions[static_cast<size_t>(block) * blockSize + slot];
  }
};

// Checks sizes; on success *out owns a pool of `initialBlocks` blocks that may grow to `maxBlocks`.
Status createPool(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks, Pool** out);
void destroyPool(Pool* pool);

// Adds `count` blocks as one new chunk; the pool is unchanged on failure.
Status growPool(Pool* pool, int32_t count);

// Makes at least `needed` blocks free, growing (doubling, up to maxBlocks) when allowed.
Status ensureFree(Pool* pool, int64_t needed);

}  // namespace adakv
