#include "selection.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

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

uint64_t packKey(float score, uint32_t index) {
  return (static_cast<uint64_t>(descendingScoreKey(score)) << 32) | index;
}

// Moves the `count` smallest keys to the front (in any order).
void selectSmallest(uint64_t* keys, size_t size, size_t count) {
  if (count == 0 || count >= size) return;
  std::nth_element(keys, keys + count - 1, keys + size);
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

  uint64_t* keys = static_cast<uint64_t*>(std::malloc((entries > 0 ? entries : 1) * sizeof(uint64_t)));
  unsigned char* kept = static_cast<unsigned char*>(std::malloc(length > 0 ? length : 1));
  if (keys == nullptr || kept == nullptr) {
    std::free(keys);
    std::free(kept);
    return kOutOfMemory;
  }
  // Across heads: flat index h * prefixLength + t, so ties prefer the lower head, then the lower token.
  for (uint64_t i = 0; i < entries; i++) keys[i] = packKey(scores[i], static_cast<uint32_t>(i));
  const size_t total = static_cast<size_t>(heads) * static_cast<size_t>(selectable);
  selectSmallest(keys, static_cast<size_t>(entries), total);
  for (int32_t h = 0; h < heads; h++) caps[h] = 0;
  for (size_t i = 0; i < total; i++) caps[static_cast<uint32_t>(keys[i]) / length]++;
  const double floorShare = std::floor(static_cast<double>(selectable) * alpha);
  for (int32_t h = 0; h < heads; h++) {
    const double cap = roundHalfEven(static_cast<double>(caps[h]) * (1.0 - alpha) + floorShare);
    caps[h] = static_cast<int32_t>(std::min(cap, static_cast<double>(prefixLength)));
  }

  int32_t written = 0;
  for (int32_t h = 0; h < heads; h++) {
    const float* row = scores + static_cast<size_t>(h) * length;
    for (size_t t = 0; t < length; t++) keys[t] = packKey(row[t], static_cast<uint32_t>(t));
    selectSmallest(keys, length, static_cast<size_t>(caps[h]));
    std::memset(kept, 0, length);
    for (int32_t i = 0; i < caps[h]; i++) kept[static_cast<uint32_t>(keys[i])] = 1;
    for (size_t t = 0; t < length; t++) {
      if (kept[t]) keptIndices[written++] = static_cast<int32_t>(t);
    }
  }
  std::free(keys);
  std::free(kept);
  return written;
}

}  // namespace adakv
