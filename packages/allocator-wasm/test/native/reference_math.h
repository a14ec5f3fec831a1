// Obviously correct (slow, double precision, full sorts) twins of the attention and selection hot
// paths, for the native tests to hold the fast C++ against.
#pragma once
#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "shadow_model.h"

// softmax(logits) weighted average of the value rows the shadow model wrote for these positions.
inline std::vector<double> softmaxAverage(const std::vector<double>& logits, const std::vector<int32_t>& positions,
                                          int32_t head, int32_t headDim) {
  std::vector<double> out(static_cast<size_t>(headDim), 0.0);
  if (logits.empty()) return out;
  const double max = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (size_t r = 0; r < logits.size(); r++) {
    const double weight = std::exp(logits[r] - max);
    total += weight;
    for (int32_t c = 0; c < headDim; c++) out[c] += weight * valueValue(positions[r], head, c);
  }
  for (double& value : out) value /= total;
  return out;
}

struct ReferenceSelection {
  std::vector<int32_t> caps;
  std::vector<int32_t> kept;  // ascending per head, head after head
};

// Ada-KV: full sort of the flattened scores (higher score, then lower flat index), count per head,
// safeguard with round-to-nearest-even (the default FP rounding mode), then each head's own top cap.
inline ReferenceSelection referenceSelect(const std::vector<float>& scores, int32_t heads, int32_t prefix,
                                          int32_t selectable, double alpha) {
  ReferenceSelection result{std::vector<int32_t>(heads, 0), {}};
  if (selectable >= prefix) {
    for (int32_t h = 0; h < heads; h++) {
      result.caps[h] = prefix;
      for (int32_t t = 0; t < prefix; t++) result.kept.push_back(t);
    }
    return result;
  }
  std::vector<int32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  auto better = [&](int32_t a, int32_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; };
  std::sort(order.begin(), order.end(), better);
  for (int32_t i = 0; i < heads * selectable; i++) result.caps[order[i] / prefix]++;
  std::fesetround(FE_TONEAREST);
  for (int32_t h = 0; h < heads; h++) {
    const double cap = std::nearbyint(result.caps[h] * (1.0 - alpha) + std::floor(selectable * alpha));
    result.caps[h] = static_cast<int32_t>(std::min(cap, static_cast<double>(prefix)));
    std::vector<int32_t> tokens(static_cast<size_t>(prefix));
    std::iota(tokens.begin(), tokens.end(), h * prefix);
    std::sort(tokens.begin(), tokens.end(), better);
    std::vector<int32_t> top(tokens.begin(), tokens.begin() + result.caps[h]);
    std::sort(top.begin(), top.end());
    for (int32_t flat : top) result.kept.push_back(flat - h * prefix);
  }
  return result;
}
