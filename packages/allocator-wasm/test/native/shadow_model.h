// A plain model of what the pool should hold: per live sequence, per (layer, head), the original
// positions of its rows in order. Rows are written with values derived from (position, head, column),
// so reading them back checks that K/V travelled with their positions through every compaction.
#pragma once
#include <cstdint>
#include <vector>

struct ShadowSequence {
  int32_t handle;
  int32_t layers;
  int32_t kvHeads;
  std::vector<std::vector<int32_t>> positions;  // layers * kvHeads lists
  std::vector<int32_t> formats;                 // layers * kvHeads KvFormats

  std::vector<int32_t>& head(int32_t layer, int32_t kvHead) { return positions[layer * kvHeads + kvHead]; }
  int32_t format(int32_t layer, int32_t kvHead) const { return formats[layer * kvHeads + kvHead]; }
};

inline float keyValue(int32_t position, int32_t head, int32_t column) {
  return static_cast<float>(position % 1000) * 0.001f + static_cast<float>(head) + static_cast<float>(column) * 0.01f;
}

inline float valueValue(int32_t position, int32_t head, int32_t column) {
  return -keyValue(position, head, column) - 0.5f;
}
