#include "radix_select.h"

#include <cstring>

namespace adakv {

Threshold radixThreshold(const uint32_t* keys, size_t n, size_t k, uint32_t* scratch) {
  constexpr int kShifts[3] = {21, 10, 0};
  constexpr uint32_t kMasks[3] = {0x7ff, 0x7ff, 0x3ff};
  uint32_t prefix = 0, prefixMask = 0;
  size_t remaining = k;  // still to select among keys matching the prefix
  const uint32_t* candidates = keys;
  size_t count = n;
  size_t histogram[2048];
  for (int pass = 0; pass < 3; pass++) {
    const int shift = kShifts[pass];
    const uint32_t mask = kMasks[pass];
    std::memset(histogram, 0, sizeof histogram);
    for (size_t i = 0; i < count; i++) {
      if ((candidates[i] & prefixMask) == prefix) histogram[(candidates[i] >> shift) & mask]++;
    }
    uint32_t bucket = 0;
    while (remaining > histogram[bucket]) remaining -= histogram[bucket++];
    prefix |= bucket << shift;
    prefixMask |= mask << shift;
    // Keep only keys still in the running; later passes scan this shorter list.
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
      if ((candidates[i] & prefixMask) == prefix) scratch[kept++] = candidates[i];
    }
    candidates = scratch;
    count = kept;
  }
  return {prefix, remaining};
}

}  // namespace adakv
