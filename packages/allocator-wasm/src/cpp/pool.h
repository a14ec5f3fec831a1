// The block pool: blocks of `blockSize` K rows then `blockSize` V rows of one KV head, handed to
// (sequence, layer, KV head) lists and returned on compaction or removal. Each head stores its blocks in
// one format (the pool's, or its own: precision per layer and KV head), and a block's bytes follow its
// format, so the pool keeps a chunk list and a free list per format. Blocks live in chunks that never
// move once allocated, so growing the pool never copies the cache.
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
  int32_t format = kFormatF32;  // KvFormat of every block of this head
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

// Blocks wanted, per format.
struct BlockNeeds {
  int64_t blocks[kFormatCount] = {};
  int64_t total() const { return blocks[0] + blocks[1] + blocks[2] + blocks[3]; }
};

struct Pool {
  int32_t headDim = 0;
  int32_t blockSize = 0;
  int32_t maxBlocks = 0;          // blocks of every format together
  int32_t format = kFormatF32;    // KvFormat of a new sequence's heads unless it names its own (kv_format.h)
  BlockLayout layouts[kFormatCount];  // byte layout of one block in each format
  GrowArray<float*> chunks;        // every chunk allocation, freed on destroy
  GrowArray<float*> blockBase;     // per block: its start (f32: K rows, then V rows at blockSize * headDim)
  GrowArray<uint8_t> blockFormats; // per block: its KvFormat
  GrowArray<int32_t> positions;    // per block: blockSize original positions
  // Per format, a stack; its capacity is always >= that format's blocks so pushes cannot fail.
  GrowArray<int32_t> freeBlocks[kFormatCount];
  int32_t formatBlocks[kFormatCount] = {};  // blocks allocated in each format
  GrowArray<Sequence*> sequences;  // slots; nullptr = free slot
  GrowArray<uint32_t> generations; // per slot, bumped on removal so stale handles are rejected

  int32_t totalBlocks() const { return static_cast<int32_t>(blockBase.size()); }
  int32_t freeCount(int32_t f) const { return static_cast<int32_t>(freeBlocks[f].size()); }
  int32_t freeCount() const { return freeCount(0) + freeCount(1) + freeCount(2) + freeCount(3); }
  size_t rowFloats() const { return static_cast<size_t>(headDim); }
  size_t blockFloats() const { return 2 * static_cast<size_t>(blockSize) * headDim; }
  const BlockLayout& layout(int32_t f) const { return layouts[f]; }
  size_t blockBytes(int32_t f) const { return layouts[f].bytes; }
  size_t blockBytes() const { return layouts[format].bytes; }
  size_t residualFloats() const { return blockFloats(); }
  // Whether heads may store blocks in `f` here (int4 needs an even headDim).
  bool holdsFormat(int32_t f) const { return formatFits(f, headDim); }
  // Takes a free block of format f (only after ensureFree secured it).
  int32_t takeBlock(int32_t f) { return freeBlocks[f].pop(); }
  void giveBack(int32_t block) { freeBlocks[blockFormats[block]].pushReserved(block); }
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
// an even headDim), the format of its heads unless a sequence names others, that may grow to
// `maxBlocks` blocks of every format together.
Status createPool(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks, int32_t format,
                  Pool** out);
void destroyPool(Pool* pool);

// Adds `count` blocks of `format` as one new chunk; the pool is unchanged on failure.
Status growPool(Pool* pool, int32_t count, int32_t format);

// Whether `needs` can be had (free, or within maxBlocks), before anything changes.
bool poolCanHold(const Pool* pool, const BlockNeeds& needs);

// Makes at least needs[f] blocks of each format f free, growing (doubling that format's blocks, within
// maxBlocks) when allowed; on failure the formats already grown stay grown (free blocks, nothing lost).
Status ensureFree(Pool* pool, const BlockNeeds& needs);

}  // namespace adakv
