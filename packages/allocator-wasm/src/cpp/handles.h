// Handles given to JS: a slot index plus a generation, so a handle to a released pool or sequence is
// recognised as stale (double free, use after free) instead of reaching a reused slot.
#pragma once
#include <cstdint>

#include "grow_array.h"
#include "status.h"

namespace adakv {

constexpr int32_t kSlotBits = 16;
constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
constexpr uint32_t kGenerationMask = (1u << (31 - kSlotBits)) - 1;

inline int32_t makeHandle(size_t slot, uint32_t generation) {
  return static_cast<int32_t>(((generation & kGenerationMask) << kSlotBits) | static_cast<uint32_t>(slot));
}

// The slot a handle names when it is live in `slots`/`generations`, or -1.
template <typename T>
int32_t liveSlot(const GrowArray<T*>& slots, const GrowArray<uint32_t>& generations, int32_t handle) {
  if (handle < 0) return -1;
  const uint32_t slot = static_cast<uint32_t>(handle) & kSlotMask;
  const uint32_t generation = static_cast<uint32_t>(handle) >> kSlotBits;
  if (slot >= slots.size() || slots[slot] == nullptr) return -1;
  if ((generations[slot] & kGenerationMask) != generation) return -1;
  return static_cast<int32_t>(slot);
}

// A free slot (reusing one or appending), or -1 when no slot is left or the heap is full.
template <typename T>
int32_t claimSlot(GrowArray<T*>& slots, GrowArray<uint32_t>& generations) {
  for (size_t s = 0; s < slots.size(); s++) {
    if (slots[s] == nullptr) return static_cast<int32_t>(s);
  }
  if (slots.size() > kSlotMask) return -1;
  if (!slots.reserve(slots.size() + 1) || !generations.reserve(generations.size() + 1)) return -1;
  slots.pushReserved(nullptr);
  generations.pushReserved(0);
  return static_cast<int32_t>(slots.size() - 1);
}

}  // namespace adakv
