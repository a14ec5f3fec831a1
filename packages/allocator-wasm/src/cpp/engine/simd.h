// The few 128-bit vector operations the kernels use, as WASM SIMD128 intrinsics when built with
// -msimd128 and as plain 4-lane structs otherwise (the native sanitizer/fuzz builds). Both forms
// compute lane by lane in the same order, so the native tests run the very algorithms the .wasm runs.
// With -mrelaxed-simd, madd() is the fused multiply-add (f32x4.relaxed_madd); otherwise mul then add.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

namespace adakv {
namespace simd {

#ifdef __wasm_simd128__

using F4 = v128_t;  // 4 x f32
using I4 = v128_t;  // 4 x i32
using I8 = v128_t;  // 8 x i16
using B16 = v128_t; // 16 x i8 / u8

inline F4 load(const float* p) { return wasm_v128_load(p); }
inline void store(float* p, F4 v) { wasm_v128_store(p, v); }
inline F4 splat(float x) { return wasm_f32x4_splat(x); }
inline F4 zero() { return wasm_f32x4_splat(0.0f); }
inline F4 add(F4 a, F4 b) { return wasm_f32x4_add(a, b); }
inline F4 sub(F4 a, F4 b) { return wasm_f32x4_sub(a, b); }
inline F4 mul(F4 a, F4 b) { return wasm_f32x4_mul(a, b); }
inline F4 divide(F4 a, F4 b) { return wasm_f32x4_div(a, b); }
inline F4 max(F4 a, F4 b) { return wasm_f32x4_pmax(a, b); }
inline F4 min(F4 a, F4 b) { return wasm_f32x4_pmin(a, b); }
inline F4 abs(F4 a) { return wasm_f32x4_abs(a); }
inline F4 nearest(F4 a) { return wasm_f32x4_nearest(a); }
// a * b + c
#ifdef __wasm_relaxed_simd__
// clang 14 writes this builtin as the pre-standard f32x4.fma; scripts/relaxed-simd-opcodes.mjs rewrites
// it to the standardized f32x4.relaxed_madd, whose operands are (a, b, c) for a * b + c.
inline F4 madd(F4 a, F4 b, F4 c) { return __builtin_wasm_fma_f32x4(a, b, c); }
#else
inline F4 madd(F4 a, F4 b, F4 c) { return wasm_f32x4_add(c, wasm_f32x4_mul(a, b)); }
#endif
inline float lane(F4 v, int i) {
  switch (i) {
    case 0: return wasm_f32x4_extract_lane(v, 0);
    case 1: return wasm_f32x4_extract_lane(v, 1);
    case 2: return wasm_f32x4_extract_lane(v, 2);
    default: return wasm_f32x4_extract_lane(v, 3);
  }
}
// (l0 + l1) + (l2 + l3): the one horizontal order every kernel uses.
inline float hsum(F4 v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
inline float hmax(F4 v) {
  const float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
  const float c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  const float ab = a > b ? a : b, cd = c > d ? c : d;
  return ab > cd ? ab : cd;
}
// Lane k = (a_k0 + a_k1) + (a_k2 + a_k3) for a_0..a_3 = s0..s3: four horizontal sums at once.
inline F4 hsum4(F4 s0, F4 s1, F4 s2, F4 s3) {
  const F4 a = wasm_f32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 2, 6), wasm_i32x4_shuffle(s0, s1, 1, 5, 3, 7));
  const F4 b = wasm_f32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 2, 6), wasm_i32x4_shuffle(s2, s3, 1, 5, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}
inline F4 loadSplat(const float* p) { return wasm_v128_load32_splat(p); }
inline F4 lessThan(F4 a, F4 b) { return wasm_f32x4_lt(a, b); }
inline F4 select(F4 mask, F4 ifTrue, F4 ifFalse) { return wasm_v128_bitselect(ifTrue, ifFalse, mask); }
inline F4 toFloat(I4 v) { return wasm_f32x4_convert_i32x4(v); }
inline I4 toIntNearest(F4 v) { return wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)); }
inline I4 i32splat(int32_t x) { return wasm_i32x4_splat(x); }
inline I4 i32add(I4 a, I4 b) { return wasm_i32x4_add(a, b); }
inline I4 i32mul(I4 a, I4 b) { return wasm_i32x4_mul(a, b); }
inline I4 i32shl(I4 a, int n) { return wasm_i32x4_shl(a, n); }
inline I4 bitsAnd(I4 a, I4 b) { return wasm_v128_and(a, b); }
inline I4 bitsOr(I4 a, I4 b) { return wasm_v128_or(a, b); }
inline I4 i32eq(I4 a, I4 b) { return wasm_i32x4_eq(a, b); }
inline I4 i32gt(I4 a, I4 b) { return wasm_i32x4_gt(a, b); }
inline I4 i32zero() { return wasm_i32x4_splat(0); }
inline I4 loadU32(const uint32_t* p) { return wasm_v128_load(p); }
inline void storeU32(uint32_t* p, I4 v) { wasm_v128_store(p, v); }
inline I4 u32shr(I4 a, int n) { return wasm_u32x4_shr(a, n); }
inline I4 i32shrSigned(I4 a, int n) { return wasm_i32x4_shr(a, n); }
inline I4 u32lessThan(I4 a, I4 b) { return wasm_u32x4_lt(a, b); }
inline I4 bitsXor(I4 a, I4 b) { return wasm_v128_xor(a, b); }
inline I4 bitsAndNot(I4 a, I4 b) { return wasm_v128_andnot(a, b); }  // a & ~b
// One bit per lane: bit k set when lane k's top bit is.
inline int32_t laneMask(I4 v) { return static_cast<int32_t>(wasm_i32x4_bitmask(v)); }
inline uint32_t u32lane(I4 v, int i) {
  switch (i) {
    case 0: return static_cast<uint32_t>(wasm_i32x4_extract_lane(v, 0));
    case 1: return static_cast<uint32_t>(wasm_i32x4_extract_lane(v, 1));
    case 2: return static_cast<uint32_t>(wasm_i32x4_extract_lane(v, 2));
    default: return static_cast<uint32_t>(wasm_i32x4_extract_lane(v, 3));
  }
}
inline int32_t i32hsum(I4 v) {
  return (wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1)) +
         (wasm_i32x4_extract_lane(v, 2) + wasm_i32x4_extract_lane(v, 3));
}
// Lane k = (a_k0 + a_k1) + (a_k2 + a_k3) for a_0..a_3 = s0..s3: four horizontal sums at once.
inline I4 i32hsum4(I4 s0, I4 s1, I4 s2, I4 s3) {
  const I4 a = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 2, 6), wasm_i32x4_shuffle(s0, s1, 1, 5, 3, 7));
  const I4 b = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 2, 6), wasm_i32x4_shuffle(s2, s3, 1, 5, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}
inline I4 i32make(int32_t a, int32_t b, int32_t c, int32_t d) { return wasm_i32x4_make(a, b, c, d); }
// Reinterpretations between float and integer lanes.
inline F4 asFloat(I4 v) { return v; }
inline I4 asInt(F4 v) { return v; }

// 8 signed bytes widened to 8 x i16.
inline I8 loadI8x8(const int8_t* p) { return wasm_i16x8_load8x8(p); }
inline I8 loadI16(const int16_t* p) { return wasm_v128_load(p); }
inline void storeI16(int16_t* p, I8 v) { wasm_v128_store(p, v); }
// sum of pairwise products: lane i = a[2i] * b[2i] + a[2i+1] * b[2i+1]
inline I4 dotI16(I8 a, I8 b) { return wasm_i32x4_dot_i16x8(a, b); }
inline B16 loadBytes(const uint8_t* p) { return wasm_v128_load(p); }
inline B16 lowNibbles(B16 v) { return wasm_v128_and(v, wasm_i8x16_splat(0x0f)); }
inline B16 bytesAndV(B16 a, B16 mask) { return wasm_v128_and(a, mask); }
inline B16 i8sub(B16 a, B16 b) { return wasm_i8x16_sub(a, b); }
inline B16 bytesSplat(uint8_t x) { return wasm_i8x16_splat(static_cast<int8_t>(x)); }
inline B16 highNibbles(B16 v) { return wasm_u8x16_shr(v, 4); }
inline B16 u8shr(B16 v, int n) { return wasm_u8x16_shr(v, n); }
inline B16 bytesAnd(B16 a, uint8_t mask) { return wasm_v128_and(a, wasm_i8x16_splat(static_cast<int8_t>(mask))); }
inline B16 bytesOr(B16 a, B16 b) { return wasm_v128_or(a, b); }
inline B16 u8shl(B16 v, int n) { return wasm_i8x16_shl(v, n); }
inline B16 i8subConst(B16 v, int8_t k) { return wasm_i8x16_sub(v, wasm_i8x16_splat(k)); }
inline I8 widenLow(B16 v) { return wasm_i16x8_extend_low_i8x16(v); }
inline I8 widenHigh(B16 v) { return wasm_i16x8_extend_high_i8x16(v); }
// 8 x u16 (f16/bf16 bits) as two vectors of 4 x u32.
inline I8 loadU16(const uint16_t* p) { return wasm_v128_load(p); }
inline I4 u16Low(I8 v) { return wasm_u32x4_extend_low_u16x8(v); }
inline I4 u16High(I8 v) { return wasm_u32x4_extend_high_u16x8(v); }
inline I4 u32load16x4(const uint16_t* p) { return wasm_u32x4_load16x4(p); }
// 4 signed bytes to 4 floats. `zero` must be opaque() zeros: without it clang 14 merges the widening
// and the conversion into one sitofp and scalarizes it (4 extract_lane + 4 scalar converts, measured
// 2x slower attention over int8 blocks).
inline F4 i8x4ToFloat(const int8_t* p, I4 zero) {
  const I4 wide = wasm_i32x4_extend_low_i16x8(wasm_i16x8_extend_low_i8x16(wasm_v128_load32_zero(p)));
  return wasm_f32x4_convert_i32x4(wasm_v128_xor(wide, zero));
}
// The 16 bits at p in the low half of every lane (the high half is unspecified: mask it off).
inline I4 u16SplatLanes(const uint8_t* p) { return wasm_v128_load16_splat(p); }

#else  // plain lanes for the native builds

struct F4 { float l[4]; };
struct I4 { int32_t l[4]; };
struct I8 { int16_t l[8]; };
struct B16 { uint8_t l[16]; };

inline F4 load(const float* p) { F4 r; std::memcpy(r.l, p, 16); return r; }
inline void store(float* p, F4 v) { std::memcpy(p, v.l, 16); }
inline F4 splat(float x) { return F4{{x, x, x, x}}; }
inline F4 zero() { return splat(0.0f); }
#define ADAKV_F4_BINARY(name, expr)                      \
  inline F4 name(F4 a, F4 b) {                           \
    F4 r;                                                \
    for (int i = 0; i < 4; i++) r.l[i] = (expr);         \
    return r;                                            \
  }
ADAKV_F4_BINARY(add, a.l[i] + b.l[i])
ADAKV_F4_BINARY(sub, a.l[i] - b.l[i])
ADAKV_F4_BINARY(mul, a.l[i] * b.l[i])
ADAKV_F4_BINARY(divide, a.l[i] / b.l[i])
ADAKV_F4_BINARY(max, a.l[i] < b.l[i] ? b.l[i] : a.l[i])
ADAKV_F4_BINARY(min, b.l[i] < a.l[i] ? b.l[i] : a.l[i])
#undef ADAKV_F4_BINARY
inline F4 abs(F4 a) { F4 r; for (int i = 0; i < 4; i++) r.l[i] = std::fabs(a.l[i]); return r; }
inline F4 nearest(F4 a) { F4 r; for (int i = 0; i < 4; i++) r.l[i] = std::nearbyint(a.l[i]); return r; }
inline F4 madd(F4 a, F4 b, F4 c) { F4 r; for (int i = 0; i < 4; i++) r.l[i] = c.l[i] + a.l[i] * b.l[i]; return r; }
inline float lane(F4 v, int i) { return v.l[i]; }
inline float hsum(F4 v) { return (v.l[0] + v.l[1]) + (v.l[2] + v.l[3]); }
inline float hmax(F4 v) {
  const float ab = v.l[0] > v.l[1] ? v.l[0] : v.l[1], cd = v.l[2] > v.l[3] ? v.l[2] : v.l[3];
  return ab > cd ? ab : cd;
}
inline F4 hsum4(F4 s0, F4 s1, F4 s2, F4 s3) {
  const F4* s[4] = {&s0, &s1, &s2, &s3};
  F4 r;
  for (int k = 0; k < 4; k++) r.l[k] = (s[k]->l[0] + s[k]->l[1]) + (s[k]->l[2] + s[k]->l[3]);
  return r;
}
inline F4 loadSplat(const float* p) { return splat(*p); }
inline F4 lessThan(F4 a, F4 b) {
  F4 r;
  for (int i = 0; i < 4; i++) {
    const uint32_t bits = a.l[i] < b.l[i] ? 0xffffffffu : 0u;
    std::memcpy(&r.l[i], &bits, 4);
  }
  return r;
}
inline F4 select(F4 mask, F4 ifTrue, F4 ifFalse) {
  F4 r;
  for (int i = 0; i < 4; i++) {
    uint32_t m, t, f;
    std::memcpy(&m, &mask.l[i], 4);
    std::memcpy(&t, &ifTrue.l[i], 4);
    std::memcpy(&f, &ifFalse.l[i], 4);
    const uint32_t bits = (t & m) | (f & ~m);
    std::memcpy(&r.l[i], &bits, 4);
  }
  return r;
}
inline F4 toFloat(I4 v) { F4 r; for (int i = 0; i < 4; i++) r.l[i] = static_cast<float>(v.l[i]); return r; }
inline I4 toIntNearest(F4 v) {
  I4 r;
  for (int i = 0; i < 4; i++) {
    const float x = std::nearbyint(v.l[i]);
    r.l[i] = x >= 2147483647.0f ? INT32_MAX : x <= -2147483648.0f ? INT32_MIN : x == x ? static_cast<int32_t>(x) : 0;
  }
  return r;
}
inline I4 i32splat(int32_t x) { return I4{{x, x, x, x}}; }
inline I4 i32add(I4 a, I4 b) {
  I4 r;
  for (int i = 0; i < 4; i++) r.l[i] = static_cast<int32_t>(static_cast<uint32_t>(a.l[i]) + static_cast<uint32_t>(b.l[i]));
  return r;
}
inline I4 i32mul(I4 a, I4 b) {
  I4 r;
  for (int i = 0; i < 4; i++) r.l[i] = static_cast<int32_t>(static_cast<uint32_t>(a.l[i]) * static_cast<uint32_t>(b.l[i]));
  return r;
}
inline I4 i32shl(I4 a, int n) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = static_cast<int32_t>(static_cast<uint32_t>(a.l[i]) << n); return r; }
inline I4 bitsAnd(I4 a, I4 b) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] & b.l[i]; return r; }
inline I4 bitsOr(I4 a, I4 b) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] | b.l[i]; return r; }
inline I4 i32eq(I4 a, I4 b) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] == b.l[i] ? -1 : 0; return r; }
inline I4 i32gt(I4 a, I4 b) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] > b.l[i] ? -1 : 0; return r; }
inline I4 i32zero() { return i32splat(0); }
inline I4 loadU32(const uint32_t* p) { I4 r; std::memcpy(r.l, p, 16); return r; }
inline void storeU32(uint32_t* p, I4 v) { std::memcpy(p, v.l, 16); }
inline I4 u32shr(I4 a, int n) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = static_cast<int32_t>(static_cast<uint32_t>(a.l[i]) >> n); return r; }
inline I4 i32shrSigned(I4 a, int n) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] >> n; return r; }
inline I4 u32lessThan(I4 a, I4 b) {
  I4 r;
  for (int i = 0; i < 4; i++) r.l[i] = static_cast<uint32_t>(a.l[i]) < static_cast<uint32_t>(b.l[i]) ? -1 : 0;
  return r;
}
inline I4 bitsXor(I4 a, I4 b) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] ^ b.l[i]; return r; }
inline I4 bitsAndNot(I4 a, I4 b) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = a.l[i] & ~b.l[i]; return r; }
inline int32_t laneMask(I4 v) {
  int32_t mask = 0;
  for (int i = 0; i < 4; i++) mask |= (static_cast<uint32_t>(v.l[i]) >> 31) << i;
  return mask;
}
inline uint32_t u32lane(I4 v, int i) { return static_cast<uint32_t>(v.l[i]); }
inline int32_t i32hsum(I4 v) { return (v.l[0] + v.l[1]) + (v.l[2] + v.l[3]); }
inline I4 i32hsum4(I4 s0, I4 s1, I4 s2, I4 s3) {
  const I4* s[4] = {&s0, &s1, &s2, &s3};
  I4 r;
  for (int k = 0; k < 4; k++) r.l[k] = (s[k]->l[0] + s[k]->l[1]) + (s[k]->l[2] + s[k]->l[3]);
  return r;
}
inline I4 i32make(int32_t a, int32_t b, int32_t c, int32_t d) { return I4{{a, b, c, d}}; }
inline F4 asFloat(I4 v) { F4 r; std::memcpy(r.l, v.l, 16); return r; }
inline I4 asInt(F4 v) { I4 r; std::memcpy(r.l, v.l, 16); return r; }

inline I8 loadI8x8(const int8_t* p) { I8 r; for (int i = 0; i < 8; i++) r.l[i] = p[i]; return r; }
inline I8 loadI16(const int16_t* p) { I8 r; std::memcpy(r.l, p, 16); return r; }
inline void storeI16(int16_t* p, I8 v) { std::memcpy(p, v.l, 16); }
inline I4 dotI16(I8 a, I8 b) {
  I4 r;
  for (int i = 0; i < 4; i++) r.l[i] = a.l[2 * i] * b.l[2 * i] + a.l[2 * i + 1] * b.l[2 * i + 1];
  return r;
}
inline B16 loadBytes(const uint8_t* p) { B16 r; std::memcpy(r.l, p, 16); return r; }
inline B16 bytesAnd(B16 a, uint8_t mask) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = a.l[i] & mask; return r; }
inline B16 lowNibbles(B16 v) { return bytesAnd(v, 0x0f); }
inline B16 u8shr(B16 v, int n) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = static_cast<uint8_t>(v.l[i] >> n); return r; }
inline B16 highNibbles(B16 v) { return u8shr(v, 4); }
inline B16 bytesOr(B16 a, B16 b) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = a.l[i] | b.l[i]; return r; }
inline B16 u8shl(B16 v, int n) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = static_cast<uint8_t>(v.l[i] << n); return r; }
inline B16 i8subConst(B16 v, int8_t k) {
  B16 r;
  for (int i = 0; i < 16; i++) r.l[i] = static_cast<uint8_t>(v.l[i] - static_cast<uint8_t>(k));
  return r;
}
inline B16 bytesAndV(B16 a, B16 mask) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = a.l[i] & mask.l[i]; return r; }
inline B16 i8sub(B16 a, B16 b) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = static_cast<uint8_t>(a.l[i] - b.l[i]); return r; }
inline B16 bytesSplat(uint8_t x) { B16 r; for (int i = 0; i < 16; i++) r.l[i] = x; return r; }
inline I8 widenLow(B16 v) { I8 r; for (int i = 0; i < 8; i++) r.l[i] = static_cast<int8_t>(v.l[i]); return r; }
inline I8 widenHigh(B16 v) { I8 r; for (int i = 0; i < 8; i++) r.l[i] = static_cast<int8_t>(v.l[8 + i]); return r; }
inline I8 loadU16(const uint16_t* p) { I8 r; std::memcpy(r.l, p, 16); return r; }
inline I4 u16Low(I8 v) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = static_cast<uint16_t>(v.l[i]); return r; }
inline I4 u16High(I8 v) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = static_cast<uint16_t>(v.l[4 + i]); return r; }
inline I4 u32load16x4(const uint16_t* p) { I4 r; for (int i = 0; i < 4; i++) r.l[i] = p[i]; return r; }
inline F4 i8x4ToFloat(const int8_t* p, I4) { F4 r; for (int i = 0; i < 4; i++) r.l[i] = static_cast<float>(p[i]); return r; }
inline I4 u16SplatLanes(const uint8_t* p) { return i32splat(p[0] | (p[1] << 8)); }

#endif

// V8 (TurboFan) materialises a v128.const at every use, inside loops too: an f16 matvec ran 4x faster
// once its constants were computed before the loop (measured here). opaque() hides a value from both
// compilers (an XOR with a volatile zero), so a kernel computes its constants once, before its loops,
// and the engine keeps them in registers. The structs below are such sets of constants.
inline volatile int32_t opaqueZero = 0;
template <typename V>
inline V opaque(V v) {
#ifdef __wasm_simd128__
  return wasm_v128_xor(v, wasm_i32x4_splat(opaqueZero));
#else
  int32_t lanes[sizeof(V) / 4];
  std::memcpy(lanes, &v, sizeof(V));
  for (int32_t& lane : lanes) lane ^= opaqueZero;
  std::memcpy(&v, lanes, sizeof(V));
  return v;
#endif
}

struct HalfConstants {
  I4 magnitude, bias, special, subnormal, sign;
  F4 tiny;
};
inline HalfConstants halfConstants() {
  return HalfConstants{opaque(i32splat(0x7fff)), opaque(i32splat(112 << 23)), opaque(i32splat(0x7bff)),
                       opaque(i32splat(0x400)), opaque(i32splat(0x8000)), opaque(splat(5.9604644775390625e-8f))};
}

// 4 f16 bit patterns (in the low halves of the lanes) to f32, exactly, without any arithmetic on
// subnormal floats (which x86 runs ~100x slower and WebAssembly may not flush): normal values get the
// exponent rebased by an integer add (twice for infinities and NaNs, giving the all-ones exponent),
// f16 subnormals and zeros are their mantissa (an integer) times 2^-24; then the sign.
inline F4 halfBitsToFloat4(I4 h, const HalfConstants& c) {
  const I4 magnitude = bitsAnd(h, c.magnitude);
  const I4 rebased = i32add(i32shl(magnitude, 13), c.bias);
  const F4 normal = asFloat(i32add(rebased, bitsAnd(i32gt(magnitude, c.special), c.bias)));
  const F4 small = mul(toFloat(magnitude), c.tiny);
  const F4 value = select(asFloat(i32gt(c.subnormal, magnitude)), small, normal);
  return asFloat(bitsOr(asInt(value), i32shl(bitsAnd(h, c.sign), 16)));
}
inline F4 halfToFloat4(const uint16_t* p, const HalfConstants& c) { return halfBitsToFloat4(u32load16x4(p), c); }

// 4 bf16 bit patterns to f32: the top halves of the floats.
inline F4 bf16ToFloat4(const uint16_t* p) { return asFloat(i32shl(u32load16x4(p), 16)); }

struct ExpConstants {
  F4 lowest, highest, log2e, ln2High, ln2Low, p0, p1, p2, p3, p4, p5, one;
  I4 bias;
};
inline ExpConstants expConstants() {
  return ExpConstants{opaque(splat(-87.33654f)),     opaque(splat(88.0f)),           opaque(splat(1.44269504088896341f)),
                      opaque(splat(0.693359375f)),   opaque(splat(-2.12194440e-4f)), opaque(splat(1.9875691500e-4f)),
                      opaque(splat(1.3981999507e-3f)), opaque(splat(8.3334519073e-3f)), opaque(splat(4.1665795894e-2f)),
                      opaque(splat(1.6666665459e-1f)), opaque(splat(5.0000001201e-1f)), opaque(splat(1.0f)),
                      opaque(i32splat(127))};
}

// e^x for each lane (Cephes' expf): |relative error| < 3e-7 over [-87.3, 88]; 0 below -87.3 (where
// e^x leaves the normal range; x = -inf gives 0), e^88 above 88. Range reduction x = n ln2 + r in two
// steps (Cody-Waite), a degree-6 polynomial for e^r, and 2^n written into the exponent bits.
inline F4 exp(F4 x, const ExpConstants& c) {
  const F4 underflow = lessThan(x, c.lowest);
  x = min(max(x, c.lowest), c.highest);
  const F4 n = nearest(mul(x, c.log2e));
  F4 r = sub(x, mul(n, c.ln2High));
  r = sub(r, mul(n, c.ln2Low));
  F4 p = c.p0;
  p = madd(p, r, c.p1);
  p = madd(p, r, c.p2);
  p = madd(p, r, c.p3);
  p = madd(p, r, c.p4);
  p = madd(p, r, c.p5);
  p = madd(mul(p, r), r, add(r, c.one));
  // n lies in [-126, 127], so 2^n is a normal float.
  const F4 scale = asFloat(i32shl(i32add(toIntNearest(n), c.bias), 23));
  return select(underflow, zero(), mul(p, scale));
}
inline F4 exp(F4 x) { return exp(x, expConstants()); }

}  // namespace simd
}  // namespace adakv
