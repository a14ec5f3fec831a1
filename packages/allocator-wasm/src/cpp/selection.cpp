#include "selection.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "radix_select.h"

namespace adakv {

namespace {

// Larger score -> smaller key, so ascending keys list scores from highest to lowest. +0 and -0 map to
// the same key so they tie (and fall back to the index) as they do in JS comparisons.
uint32_t descendingScoreKey(float score) {
  const float normalized = score + 0.0f;
  uint32_t bits;
  std::memcpy(&bits, &normalized, sizeof bits);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return ~ascending;
}

}  // namespace

double roundHalfEven(double value) {
  const double floor = std::floor(value);
  const double fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return std::fmod(floor, 2.0) == 0.0 ? floor : floor + 1;
}

int32_t selectAdaptive(const float* scores, int32_t heads, int32_t prefixLength, int32_t selectable, double alpha,
                       int32_t* caps, int32_t* keptIndices) {
  if (heads <= 0 || prefixLength < 0 || selectable < 0) return kInvalidArgument;
  if (!(alpha >= 0.0 && alpha <= 1.0)) return kInvalidArgument;
  const uint64_t entries = static_cast<uint64_t>(heads) * static_cast<uint64_t>(prefixLength);
  if (entries > INT32_MAX) return kInvalidArgument;
  if (caps == nullptr || (entries > 0 && (scores == nullptr || keptIndices == nullptr))) return kInvalidArgument;
  for (uint64_t i = 0; i < entries; i++) {
    if (!std::isfinite(scores[i])) return kInvalidNumber;
  }
  const size_t length = static_cast<size_t>(prefixLength);
  if (selectable >= prefixLength) {
    for (int32_t h = 0; h < heads; h++) {
      caps[h] = prefixLength;
      for (size_t t = 0; t < length; t++) keptIndices[h * length + t] = static_cast<int32_t>(t);
    }
    return static_cast<int32_t>(entries);
  }

  const size_t size = static_cast<size_t>(entries);
  uint32_t* keys = static_cast<uint32_t*>(std::malloc(2 * size * sizeof(uint32_t)));
  if (keys == nullptr) return kOutOfMemory;
  uint32_t* scratch = keys + size;
  for (size_t i = 0; i < size; i++) keys[i] = descendingScoreKey(scores[i]);

  // Across heads, in flat order h * prefixLength + t: ties prefer the lower head, then the lower token.
  for (int32_t h = 0; h < heads; h++) caps[h] = 0;
  const size_t total = static_cast<size_t>(heads) * static_cast<size_t>(selectable);
  if (total > 0) {
    const Threshold threshold = radixThreshold(keys, size, total, scratch);
    size_t equalSeen = 0;
    for (size_t i = 0; i < size; i++) {
      if (selected(threshold, keys[i], equalSeen)) caps[i / length]++;
    }
  }
  const double floorShare = std::floor(static_cast<double>(selectable) * alpha);
  for (int32_t h = 0; h < heads; h++) {
    const double cap = roundHalfEven(static_cast<double>(caps[h]) * (1.0 - alpha) + floorShare);
    caps[h] = static_cast<int32_t>(std::min(cap, static_cast<double>(prefixLength)));
  }

  // Each head's own top cap_h, emitted by one scan in token order (so already ascending).
  int32_t written = 0;
  for (int32_t h = 0; h < heads; h++) {
    if (caps[h] == 0) continue;
    const uint32_t* row = keys + static_cast<size_t>(h) * length;
    const Threshold threshold = radixThreshold(row, length, static_cast<size_t>(caps[h]), scratch);
    size_t equalSeen = 0;
    for (size_t t = 0; t < length; t++) {
      if (selected(threshold, row[t], equalSeen)) keptIndices[written++] = static_cast<int32_t>(t);
    }
  }
  std::free(keys);
  return written;
}

}  // namespace adakv
