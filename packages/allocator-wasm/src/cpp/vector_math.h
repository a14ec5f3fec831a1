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

// out = out * keep + sum_r weights[r] * rows[r], rows [count][n]. Column strips of 16 stay in
// registers across all rows, so `out` is read and written once per call rather than once per row.
inline void accumulateRows(float* out, float keep, const float* weights, const float* rows, int32_t count, int32_t n) {
  int32_t i = 0;
#ifdef __wasm_simd128__
  const v128_t k = wasm_f32x4_splat(keep);
  for (; i + 16 <= n; i += 16) {
    v128_t a0 = wasm_f32x4_mul(wasm_v128_load(out + i), k);
    v128_t a1 = wasm_f32x4_mul(wasm_v128_load(out + i + 4), k);
    v128_t a2 = wasm_f32x4_mul(wasm_v128_load(out + i + 8), k);
    v128_t a3 = wasm_f32x4_mul(wasm_v128_load(out + i + 12), k);
    for (int32_t r = 0; r < count; r++) {
      const v128_t w = wasm_f32x4_splat(weights[r]);
      const float* row = rows + static_cast<size_t>(r) * n + i;
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(w, wasm_v128_load(row)));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(w, wasm_v128_load(row + 4)));
      a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(w, wasm_v128_load(row + 8)));
      a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(w, wasm_v128_load(row + 12)));
    }
    wasm_v128_store(out + i, a0);
    wasm_v128_store(out + i + 4, a1);
    wasm_v128_store(out + i + 8, a2);
    wasm_v128_store(out + i + 12, a3);
  }
#endif
  for (; i < n; i++) {
    float acc = out[i] * keep;
    for (int32_t r = 0; r < count; r++) acc += weights[r] * rows[static_cast<size_t>(r) * n + i];
    out[i] = acc;
  }
}

}  // namespace adakv
