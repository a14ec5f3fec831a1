#include "activations.h"

#include <cmath>
#include <cstddef>
#include <cstring>

namespace adakv {
namespace engine {

namespace {

// d = amax / 127 and q = nearest(x * (1 / d)) over `count` values; returns d.
float quantizeGroup(const float* x, int32_t count, int16_t* q) {
  float amax = 0.0f;
  for (int32_t i = 0; i < count; i++) amax = std::fmax(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int32_t i = 0; i < count; i++) {
    const float v = std::nearbyint(x[i] * inverse);
    // Clamped, and NaN (from non-finite input) to 0, so the conversion is always defined.
    q[i] = static_cast<int16_t>(v >= 127.0f ? 127.0f : v <= -127.0f ? -127.0f : v == v ? v : 0.0f);
  }
  return d;
}

}  // namespace

void packRows(const float* values, int32_t rows, int32_t cols, float* packed) {
  const int32_t steps = cols / 4;
  for (int32_t t = 0; t < rows; t++) {
    const float* row = values + static_cast<size_t>(t) * cols;
    float* target = packed + static_cast<size_t>(t) * 4;
    for (int32_t s = 0; s < steps; s++) std::memcpy(target + static_cast<size_t>(s) * rows * 4, row + 4 * s, 4 * sizeof(float));
  }
}

void quantizeRowQ8(const float* x, int32_t cols, int16_t* q, float* d) {
  for (int32_t b = 0; b < cols / 32; b++) d[b] = quantizeGroup(x + 32 * b, 32, q + 32 * b);
}

void quantizeRowQ8K(const float* x, int32_t cols, int16_t* q, float* d, int32_t* sums) {
  for (int32_t b = 0; b < cols / 256; b++) d[b] = quantizeGroup(x + 256 * b, 256, q + 256 * b);
  for (int32_t g = 0; g < cols / 32; g++) {
    int32_t total = 0;
    for (int32_t i = 0; i < 32; i++) total += q[32 * g + i];
    sums[g] = total;
  }
}

}  // namespace engine
}  // namespace adakv
