// The C ABI exported to JS. Every function takes plain integers and linear-memory pointers and returns
// a status (negative) or a result (>= 0). Debug builds re-check the whole pool after each change.
#include <cassert>
#include <cstdint>

#include "adakv.h"
#include "attention.h"
#include "cache_ops.h"
#include "handles.h"
#include "pool.h"
#include "selection.h"
#include "sequence.h"
#include "stats.h"
#include "views.h"
#include "registry.h"

#define ADAKV_EXPORT extern "C" __attribute__((used, visibility("default")))

namespace {

adakv::GrowArray<adakv::Pool*> pools;
adakv::GrowArray<uint32_t> poolGenerations;

adakv::Pool* findPool(int32_t handle) { return adakv::findPoolHandle(handle); }

adakv::HeadList* findHead(adakv::Sequence* sequence, int32_t layer, int32_t head) {
  if (layer < 0 || layer >= sequence->layers || head < 0 || head >= sequence->kvHeads) return nullptr;
  return &sequence->head(layer, head);
}

#define FIND_POOL_AND_SEQUENCE()                                  \
  adakv::Pool* pool = findPool(poolHandle);                       \
  if (pool == nullptr) return adakv::kInvalidHandle;              \
  adakv::Sequence* sequence = adakv::findSequence(pool, sequenceHandle); \
  if (sequence == nullptr) return adakv::kInvalidHandle;

}  // namespace

adakv::Pool* adakv::findPoolHandle(int32_t handle) {
  const int32_t slot = adakv::liveSlot(pools, poolGenerations, handle);
  return slot < 0 ? nullptr : pools[slot];
}

ADAKV_EXPORT int32_t adakv_pool_create_format(int32_t headDim, int32_t blockSize, int32_t initialBlocks,
                                              int32_t maxBlocks, int32_t format) {
  const int32_t slot = adakv::claimSlot(pools, poolGenerations);
  if (slot < 0) return adakv::kOutOfMemory;
  adakv::Pool* pool = nullptr;
  const adakv::Status status = adakv::createPool(headDim, blockSize, initialBlocks, maxBlocks, format, &pool);
  if (status != adakv::kOk) return status;
  pools[slot] = pool;
  return adakv::makeHandle(slot, poolGenerations[slot]);
}

ADAKV_EXPORT int32_t adakv_pool_create(int32_t headDim, int32_t blockSize, int32_t initialBlocks, int32_t maxBlocks) {
  return adakv_pool_create_format(headDim, blockSize, initialBlocks, maxBlocks, adakv::kFormatF32);
}

ADAKV_EXPORT int32_t adakv_pool_destroy(int32_t poolHandle) {
  const int32_t slot = adakv::liveSlot(pools, poolGenerations, poolHandle);
  if (slot < 0) return adakv::kInvalidHandle;
  adakv::destroyPool(pools[slot]);
  pools[slot] = nullptr;
  poolGenerations[slot]++;
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_pool_stats(int32_t poolHandle, double* out) {
  adakv::Pool* pool = findPool(poolHandle);
  if (pool == nullptr) return adakv::kInvalidHandle;
  if (out == nullptr) return adakv::kInvalidArgument;
  adakv::poolStats(pool, out);
  return adakv::kPoolStatCount;
}

ADAKV_EXPORT int32_t adakv_pool_check(int32_t poolHandle) {
  adakv::Pool* pool = findPool(poolHandle);
  if (pool == nullptr) return adakv::kInvalidHandle;
  return adakv::checkPool(pool);
}

// `formats`: each head's KvFormat (layers x kvHeads, layer-major), or null for the pool's format.
ADAKV_EXPORT int32_t adakv_sequence_add_formats(int32_t poolHandle, int32_t layers, int32_t kvHeads,
                                                const int32_t* formats) {
  adakv::Pool* pool = findPool(poolHandle);
  if (pool == nullptr) return adakv::kInvalidHandle;
  return adakv::addSequence(pool, layers, kvHeads, formats);
}

ADAKV_EXPORT int32_t adakv_sequence_add(int32_t poolHandle, int32_t layers, int32_t kvHeads) {
  return adakv_sequence_add_formats(poolHandle, layers, kvHeads, nullptr);
}

ADAKV_EXPORT int32_t adakv_sequence_remove(int32_t poolHandle, int32_t sequenceHandle) {
  adakv::Pool* pool = findPool(poolHandle);
  if (pool == nullptr) return adakv::kInvalidHandle;
  const adakv::Status status = adakv::removeSequence(pool, sequenceHandle);
  assert(adakv::checkPool(pool) == adakv::kOk);
  return status;
}

ADAKV_EXPORT int32_t adakv_sequence_stats(int32_t poolHandle, int32_t sequenceHandle, double* out) {
  FIND_POOL_AND_SEQUENCE();
  if (out == nullptr) return adakv::kInvalidArgument;
  adakv::sequenceStats(pool, sequence, out);
  return adakv::kSequenceStatCount;
}

ADAKV_EXPORT int32_t adakv_append(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t tokens,
                                  const float* keys, const float* values, const int32_t* positions) {
  FIND_POOL_AND_SEQUENCE();
  const adakv::Status status = adakv::appendRows(pool, sequence, layer, tokens, keys, values, positions);
  assert(adakv::checkPool(pool) == adakv::kOk);
  return status;
}

ADAKV_EXPORT int32_t adakv_append_heads(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t tokens,
                                        const float* keys, const float* values, const int32_t* positions) {
  FIND_POOL_AND_SEQUENCE();
  const adakv::Status status = adakv::appendRows(pool, sequence, layer, tokens, keys, values, positions, true);
  assert(adakv::checkPool(pool) == adakv::kOk);
  return status;
}

ADAKV_EXPORT int32_t adakv_compact(int32_t poolHandle, int32_t sequenceHandle, int32_t layer,
                                   const int32_t* keptCounts, const int32_t* keptIndices) {
  FIND_POOL_AND_SEQUENCE();
  const int32_t moved = adakv::compactRows(pool, sequence, layer, keptCounts, keptIndices);
  assert(adakv::checkPool(pool) == adakv::kOk);
  return moved;
}

ADAKV_EXPORT int32_t adakv_length(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t head) {
  FIND_POOL_AND_SEQUENCE();
  adakv::HeadList* list = findHead(sequence, layer, head);
  return list == nullptr ? adakv::kOutOfRange : list->length;
}

ADAKV_EXPORT int32_t adakv_head_format(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t head) {
  FIND_POOL_AND_SEQUENCE();
  adakv::HeadList* list = findHead(sequence, layer, head);
  return list == nullptr ? adakv::kOutOfRange : list->format;
}

ADAKV_EXPORT int32_t adakv_read_rows(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t head,
                                     int32_t kind, float* out) {
  FIND_POOL_AND_SEQUENCE();
  adakv::HeadList* list = findHead(sequence, layer, head);
  return list == nullptr ? adakv::kOutOfRange : adakv::copyRows(pool, *list, kind, out);
}

ADAKV_EXPORT int32_t adakv_read_positions(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t head,
                                          int32_t* out) {
  FIND_POOL_AND_SEQUENCE();
  adakv::HeadList* list = findHead(sequence, layer, head);
  return list == nullptr ? adakv::kOutOfRange : adakv::copyPositions(pool, *list, out);
}

ADAKV_EXPORT int32_t adakv_layer_blocks(int32_t poolHandle, int32_t sequenceHandle, int32_t layer) {
  FIND_POOL_AND_SEQUENCE();
  return adakv::layerBlockCount(sequence, layer);
}

ADAKV_EXPORT int32_t adakv_flatten(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t* cuSeqlens,
                                   int32_t* cuBlocks, int32_t* blockTable, uintptr_t* blockAddresses) {
  FIND_POOL_AND_SEQUENCE();
  return adakv::flattenLayer(pool, sequence, layer, cuSeqlens, cuBlocks, blockTable, blockAddresses);
}

ADAKV_EXPORT int32_t adakv_attend(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t queryHeads,
                                  const float* queries, float* out) {
  FIND_POOL_AND_SEQUENCE();
  return adakv::attendLayer(pool, sequence, layer, queryHeads, queries, out);
}

ADAKV_EXPORT int32_t adakv_attend_causal(int32_t poolHandle, int32_t sequenceHandle, int32_t layer, int32_t queryHeads,
                                         int32_t rows, int32_t start, const float* queries, float* out) {
  FIND_POOL_AND_SEQUENCE();
  return adakv::attendCausal(pool, sequence, layer, queryHeads, rows, start, queries, out);
}

ADAKV_EXPORT int32_t adakv_select_adaptive(const float* scores, int32_t heads, int32_t prefixLength,
                                           int32_t selectable, double alpha, int32_t* caps, int32_t* keptIndices) {
  return adakv::selectAdaptive(scores, heads, prefixLength, selectable, alpha, caps, keptIndices);
}
