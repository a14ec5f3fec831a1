// The block pool: fixed-size blocks of `blockSize` K rows then `blockSize` V rows of one KV head,
// handed to (sequence, layer, KV head) lists and returned on compaction or removal. Blocks live in
// chunks that never move once allocated, so growing the pool never copies the cache.
#pragma once
#include <cstdint>

#include "grow_array.h"
#include "kv_format.h"
#include "status.h"

namespace adakv {

// One (sequence, layer, KV head): its block table and how many rows it holds. In an int8/int4 pool the
// last block, while partly filled, may hold its rows in `residual` instead ([blockSize][d] K then V,
// f32): that block is then recorded as a residual one, and is encoded when it fills. A partly filled
// last block without a residual is encoded over the rows it holds (what compaction leaves).
struct HeadList {
  GrowArray<int32_t> blocks;
  int32_t length = 0;
  float* residual = nullptr;
  float* spareResidual = nullptr;  // taken ahead by a forward pass so its appends cannot run out of memory

  bool residualBlock(size_t b) const { return residual != nullptr && b + 1 == blocks.size(); }
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
  int32_t format = kFormatF32;    // KvFormat of every block (kv_format.h)
  BlockLayout layout;             // byte layout of one block in that format
  GrowArray<float*> chunks;        // every chunk allocation, freed on destroy
  GrowArray<float*> blockBase;     // per block: its start (f32: K rows, then V rows at blockSize * headDim)
  GrowArray<int32_t> positions;    // per block: blockSize original positions
  GrowArray<int32_t> freeBlocks;   // a stack; capacity always >= total blocks so pushes cannot fail
  GrowArray<Sequence*> sequences;  // slots; nullptr = free slot
  GrowArray<uint32_t> generations; // per slot, bumped on removal so stale handles are rejected

  int32_t totalBlocks() const { return static_cast<int32_t>(blockBase.size()); }
  int32_t freeCount() const { return static_cast<int32_t>(freeBlocks.size()); }
  size_t rowFloats() const { return static_cast<size_t>(headDim); }
  size_t blockFloats() const { return 2 * static_cast<size_t>(blockSize) * headDim; }
  size_t blockBytes() const { return layout.bytes; }
  size_t residualFloats() const { return blockFloats(); }
  unsigned char* blockBytesAt(int32_t block) const { return reinterpret_cast<unsigned char*>(blockBase[block]); }

  float* keyRow(int32_t block, int32_t slot) { return blockBase[block] + static_cast<size_t>(slot) * headDim; }
  float* valueRow(int32_t block, int32_t slot) {
    return blockBase[block] + static_cast<size_t>(blockSize + slot) * headDim;
  }
  int32_t& position(int32_t block, int32_t slot) {
    return positions[static_cast<size_t>(block) * blockSize + slot];
  }
};

// Checks sizes; on success *out owns a pool of `initialBlocks` blocks in `format` (KvFormat; int4 needs
// an even headDim) that may grow to `maxBlocks`.
Status createPool(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks, int32_t format,
                  Pool** out);
void destroyPool(Pool* pool);

// Adds `count` blocks as one new chunk; the pool is unchanged on failure.
Status growPool(Pool* pool, int32_t count);

// Makes at least `needed` blocks free, growing (doubling, up to maxBlocks) when allowed.
Status ensureFree(Pool* pool, int64_t needed);

}  // namespace adakv
