// Radix selection of the k smallest 32-bit keys, ties broken by position: three histogram passes of
// 11/11/10 bits narrow down the k-th key, so no sort of the whole array is ever done. The result is a
// threshold: every key below `key` is selected, plus the first `equalTaken` keys equal to it in array
// order (lowest positions first).
#pragma once
#include <cstddef>
#include <cstdint>

namespace adakv {

struct Threshold {
  uint32_t key;
  size_t equalTaken;
};

// 0 < k <= n; `scratch` has room for n keys.
Threshold radixThreshold(const uint32_t* keys, size_t n, size_t k, uint32_t* scratch);

// Whether the entry with this key is selected, given how many equal keys were taken before it.
inline bool selected(const Threshold& threshold, uint32_t key, size_t& equalSeen) {
  if (key < threshold.key) return true;
  return key == threshold.key && equalSeen++ < threshold.equalTaken;
}

}  // namespace adakv
