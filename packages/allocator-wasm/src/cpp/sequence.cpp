#include "sequence.h"

#include <cstdlib>
#include <new>

#include "handles.h"

namespace adakv {

namespace {
constexpr int32_t kMaxHeadsPerSequence = 1 << 20;
}

int32_t addSequence(Pool* pool, int32_t layers, int32_t kvHeads, const int32_t* formats) {
  if (layers <= 0 || kvHeads <= 0) return kInvalidArgument;
  if (static_cast<int64_t>(layers) * kvHeads > kMaxHeadsPerSequence) return kInvalidArgument;
  if (formats != nullptr) {
    for (int64_t i = 0; i < static_cast<int64_t>(layers) * kvHeads; i++) {
      if (!pool->holdsFormat(formats[i])) return kInvalidArgument;
    }
  }
  const int32_t slot = claimSlot(pool->sequences, pool->generations);
  if (slot < 0) return kOutOfMemory;
  Sequence* sequence = new (std::nothrow) Sequence();
  if (sequence == nullptr) return kOutOfMemory;
  const size_t count = static_cast<size_t>(layers) * kvHeads;
  void* heads = std::malloc(count * sizeof(HeadList));
  if (heads == nullptr) {
    delete sequence;
    return kOutOfMemory;
  }
  sequence->layers = layers;
  sequence->kvHeads = kvHeads;
  sequence->heads = static_cast<HeadList*>(heads);
  for (size_t i = 0; i < count; i++) {
    new (&sequence->heads[i]) HeadList();
    sequence->heads[i].format = formats == nullptr ? pool->format : formats[i];
  }
  pool->sequences[slot] = sequence;
  return makeHandle(slot, pool->generations[slot]);
}

Sequence* findSequence(Pool* pool, int32_t handle) {
  const int32_t slot = liveSlot(pool->sequences, pool->generations, handle);
  return slot < 0 ? nullptr : pool->sequences[slot];
}

void releaseBlocksFrom(Pool* pool, HeadList& head, size_t keepBlocks) {
  if (head.residual != nullptr && head.blocks.size() > keepBlocks) dropResidual(head);
  while (head.blocks.size() > keepBlocks) pool->giveBack(head.blocks.pop());
}

void dropResidual(HeadList& head) {
  std::free(head.residual);
  head.residual = nullptr;
}

Status removeSequence(Pool* pool, int32_t handle) {
  const int32_t slot = liveSlot(pool->sequences, pool->generations, handle);
  if (slot < 0) return kInvalidHandle;
  Sequence* sequence = pool->sequences[slot];
  for (int32_t i = 0; i < sequence->layers * sequence->kvHeads; i++) {
    releaseBlocksFrom(pool, sequence->heads[i], 0);
    std::free(sequence->heads[i].spareResidual);
    sequence->heads[i].~HeadList();
  }
  std::free(sequence->heads);
  delete sequence;
  pool->sequences[slot] = nullptr;
  pool->generations[slot]++;
  return kOk;
}

}  // namespace adakv
