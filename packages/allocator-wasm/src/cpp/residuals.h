// The f32 rows an int8/int4 pool keeps for each head's partly filled last block, taken for a whole
// layer before an append writes anything, so running out of memory leaves every head as it was.
#pragma once
#include <cstdlib>

#include "grow_array.h"
#include "pool.h"

namespace adakv {

// Gives every one of `count` heads without a residual a spare one, so that appends to all of them
// (a forward pass over every layer) cannot fail for memory once this succeeded.
inline Status reserveResiduals(const Pool* pool, HeadList* heads, int32_t count) {
  for (int32_t h = 0; h < count; h++) {
    if (!formatNeedsResidual(heads[h].format)) continue;
    if (heads[h].residual != nullptr || heads[h].spareResidual != nullptr) continue;
    heads[h].spareResidual = static_cast<float*>(std::malloc(pool->residualFloats() * sizeof(float)));
    if (heads[h].spareResidual == nullptr) return kOutOfMemory;
  }
  return kOk;
}

class ResidualBuffers {
 public:
  ResidualBuffers() = default;
  ResidualBuffers(const ResidualBuffers&) = delete;
  ResidualBuffers& operator=(const ResidualBuffers&) = delete;
  ~ResidualBuffers() {
    for (size_t i = 0; i < buffers_.size(); i++) std::free(buffers_[i]);
  }

  // One buffer for each of `count` int8/int4 heads that has no residual yet (nullptr for the others):
  // the head's spare when it has one.
  Status take(const Pool* pool, HeadList* heads, int32_t count) {
    if (!buffers_.reserve(static_cast<size_t>(count))) return kOutOfMemory;
    for (int32_t h = 0; h < count; h++) {
      float* buffer = nullptr;
      if (formatNeedsResidual(heads[h].format) && heads[h].residual == nullptr) {
        buffer = heads[h].spareResidual;
        heads[h].spareResidual = nullptr;
        if (buffer == nullptr) buffer = static_cast<float*>(std::malloc(pool->residualFloats() * sizeof(float)));
        if (buffer == nullptr) return kOutOfMemory;
      }
      buffers_.pushReserved(buffer);
    }
    return kOk;
  }

  // Head h's buffer, now owned by the caller.
  float* give(int32_t h) {
    float* buffer = buffers_[static_cast<size_t>(h)];
    buffers_[static_cast<size_t>(h)] = nullptr;
    return buffer;
  }

 private:
  GrowArray<float*> buffers_;
};

}  // namespace adakv
