#include "ops.h"

#include <cmath>

#include "simd.h"

namespace adakv {
namespace engine {

using namespace simd;

void rmsnorm(float* out, const float* x, const float* weight, int32_t rows, int32_t dim, float eps) {
  for (int32_t t = 0; t < rows; t++) {
    const float* row = x + static_cast<size_t>(t) * dim;
    float* target = out + static_cast<size_t>(t) * dim;
    double squares = 0.0;
    for (int32_t i = 0; i < dim; i++) squares += static_cast<double>(row[i]) * row[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(squares / dim + static_cast<double>(eps)));
    for (int32_t i = 0; i < dim; i++) target[i] = weight[i] * (scale * row[i]);
  }
}

void rope(float* vector, int32_t heads, int32_t headDim, const float* cos, const float* sin) {
  const int32_t half = headDim / 2;
  for (int32_t h = 0; h < heads; h++) {
    float* v = vector + static_cast<size_t>(h) * headDim;
    for (int32_t j = 0; j < half; j++) {
      const float v0 = v[2 * j], v1 = v[2 * j + 1];
      v[2 * j] = v0 * cos[j] - v1 * sin[j];
      v[2 * j + 1] = v0 * sin[j] + v1 * cos[j];
    }
  }
}

void ropeNeox(float* vector, int32_t heads, int32_t headDim, const float* cos, const float* sin) {
  const int32_t half = headDim / 2;
  for (int32_t h = 0; h < heads; h++) {
    float* first = vector + static_cast<size_t>(h) * headDim;
    float* second = first + half;
    int32_t j = 0;
    for (; j + 4 <= half; j += 4) {
      const F4 v0 = load(first + j), v1 = load(second + j), c = load(cos + j), s = load(sin + j);
      store(first + j, sub(mul(v0, c), mul(v1, s)));
      store(second + j, add(mul(v0, s), mul(v1, c)));
    }
    for (; j < half; j++) {
      const float v0 = first[j], v1 = second[j];
      first[j] = v0 * cos[j] - v1 * sin[j];
      second[j] = v0 * sin[j] + v1 * cos[j];
    }
  }
}

void swiglu(float* gate, const float* up, int32_t count) {
  const ExpConstants c = expConstants();
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const F4 g = load(gate + i);
    const F4 e = simd::exp(sub(zero(), g), c);
    store(gate + i, mul(divide(g, add(c.one, e)), load(up + i)));
  }
  for (; i < count; i++) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, int32_t count) {
  if (count <= 0) return;
  float max = x[0];
  for (int32_t i = 1; i < count; i++) max = x[i] > max ? x[i] : max;
  const F4 shift = splat(max);
  const ExpConstants c = expConstants();
  F4 total4 = zero();
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const F4 e = simd::exp(sub(load(x + i), shift), c);
    store(x + i, e);
    total4 = add(total4, e);
  }
  float total = hsum(total4);
  for (; i < count; i++) {
    x[i] = lane(simd::exp(splat(x[i] - max), c), 0);
    total += x[i];
  }
  const F4 inverse = splat(1.0f / total);
  i = 0;
  for (; i + 4 <= count; i += 4) store(x + i, mul(load(x + i), inverse));
  for (; i < count; i++) x[i] *= lane(inverse, 0);
}

void axpy(float* out, float a, const float* x, int32_t count) {
  const F4 a4 = splat(a);
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) store(out + i, madd(a4, load(x + i), load(out + i)));
  for (; i < count; i++) out[i] += a * x[i];
}

int32_t argmax(const float* x, int32_t count) {
  int32_t best = 0;
  for (int32_t i = 1; i < count; i++) {
    if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
  }
  return best;
}

int32_t finiteArgmax(const float* x, int32_t count) {
  for (int32_t i = 0; i < count; i++) {
    if (!std::isfinite(x[i])) return -1;
  }
  return argmax(x, count);
}

void addInPlace(float* a, const float* b, int32_t count) {
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) store(a + i, add(load(a + i), load(b + i)));
  for (; i < count; i++) a[i] += b[i];
}

float dot(const float* x, const float* y, int32_t count) {
  F4 acc = zero();
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) acc = madd(load(x + i), load(y + i), acc);
  float total = hsum(acc);
  for (; i < count; i++) total += x[i] * y[i];
  return total;
}

}  // namespace engine
}  // namespace adakv
