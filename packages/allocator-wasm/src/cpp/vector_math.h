// Dot product and scaled accumulation over rows, in WASM SIMD (4 x f32 lanes, four accumulators to
// hide add latency) when built with -msimd128, and plain loops otherwise (the native test builds).
#pragma once
#include <cstdint>

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

namespace adakv {

inline float dot(const float* a, const float* b, int32_t n) {
  int32_t i = 0;
  float total = 0.0f;
#ifdef __wasm_simd128__
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
  for (; i + 16 <= n; i += 16) {
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
    s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(wasm_v128_load(a + i + 8), wasm_v128_load(b + i + 8)));
    s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(wasm_v128_load(a + i + 12), wasm_v128_load(b + i + 12)));
  }
  for (; i + 4 <= n; i += 4) s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  const v128_t s = wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3));
  total = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
          (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
#endif
  for (; i < n; i++) total += a[i] * b[i];
  return total;
}

// out[i] = out[i] * keep + weight * row[i]
inline void scaleAndAdd(float* out, float keep, float weight, const float* row, int32_t n) {
  int32_t i = 0;
#ifdef __wasm_simd128__
  const v128_t k = wasm_f32x4_splat(keep), w = wasm_f32x4_splat(weight);
  for (; i + 4 <= n; i += 4) {
    const v128_t current = wasm_f32x4_mul(wasm_v128_load(out + i), k);
    wasm_v128_store(out + i, wasm_f32x4_add(current, wasm_f32x4_mul(w, wasm_v128_load(row + i))));
  }
#endif
  for (; i < n; i++) out[i] = out[i] * keep + weight * row[i];
}

// out[i] += weight * row[i]
inline void addScaled(float* out, float weight, const float* row, int32_t n) {
  int32_t i = 0;
#ifdef __wasm_simd128__
  const v128_t w = wasm_f32x4_splat(weight);
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(out + i, wasm_f32x4_add(wasm_v128_load(out + i), wasm_f32x4_mul(w, wasm_v128_load(row + i))));
  }
#endif
  for (; i < n; i++) out[i] += weight * row[i];
}

}  // namespace adakv
