// Readers of one block's K or V rows for the attention kernels, one per storage format: load4(r, i)
// gives elements i..i+3 of row r as f32, dequantized in registers from the block's own bytes (no
// decoded copy anywhere); at(r, i) one element (the head-dim tails); skip(r) the reader from row r on.
// Every reader gives exactly what decodeRow (kv_format.cpp) gives: float(q) * scale, or the exact f16.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/formats.h"
#include "engine/simd.h"
#include "kv_format.h"

namespace adakv {

// Vector constants the readers need, made once per call (see simd::opaque).
struct ReaderConstants {
  simd::HalfConstants half;
  simd::I4 nibbleMasks;  // 0xf, 0xf0, 0xf00, 0xf000: four nibbles of two bytes, one per lane
  simd::F4 nibbleUnits;  // 1, 1/16, 1/256, 1/4096: each masked nibble back to 0..15, exactly
  simd::F4 nibbleBias;   // 8
  simd::I4 zero;         // keeps the int8 widening a vector operation (simd::i8x4ToFloat)
  simd::I4 halfMagnitude, halfSign;  // 0x7fff << 13 and the f32 sign bit
  simd::F4 halfRebase;               // 2^112: f16 exponent bias 15 to f32's 127
};

inline ReaderConstants readerConstants() {
  using namespace simd;
  return ReaderConstants{halfConstants(), opaque(i32make(0xf, 0xf0, 0xf00, 0xf000)),
                         opaque(F4(asFloat(i32make(0x3f800000, 0x3d800000, 0x3b800000, 0x39800000)))), opaque(splat(8.0f)),
                         opaque(i32zero()), opaque(i32splat(0x7fff << 13)), opaque(i32splat(INT32_MIN)),
                         opaque(F4(asFloat(i32splat(0x77800000))))};
}

struct F32Rows {
  const float* p;
  int32_t d;
  F32Rows skip(int32_t r) const { return {p + static_cast<size_t>(r) * d, d}; }
  simd::F4 load4(int32_t r, int32_t i) const { return simd::load(p + static_cast<size_t>(r) * d + i); }
  float at(int32_t r, int32_t i) const { return p[static_cast<size_t>(r) * d + i]; }
};

// f16: the bits of a finite binary16, moved into an f32's places and multiplied by 2^112, are its value
// exactly (subnormals too); 6 vector operations where the general conversion needs 11. Pools never
// store infinities or NaNs (kv_format.cpp saturates), the codes this would get wrong.
struct F16Rows {
  const uint16_t* p;
  int32_t d;
  const ReaderConstants* c;
  F16Rows skip(int32_t r) const { return {p + static_cast<size_t>(r) * d, d, c}; }
  simd::F4 load4(int32_t r, int32_t i) const {
    using namespace simd;
    const I4 h = u32load16x4(p + static_cast<size_t>(r) * d + i);
    const F4 magnitude = mul(asFloat(bitsAnd(i32shl(h, 13), c->halfMagnitude)), c->halfRebase);
    return asFloat(bitsOr(asInt(magnitude), bitsAnd(i32shl(h, 16), c->halfSign)));
  }
  float at(int32_t r, int32_t i) const { return engine::halfToFloat(p[static_cast<size_t>(r) * d + i]); }
};

// int8 keys: one scale per channel.
struct Int8ChannelRows {
  const int8_t* p;
  const float* scales;
  int32_t d;
  const ReaderConstants* c;
  Int8ChannelRows skip(int32_t r) const { return {p + static_cast<size_t>(r) * d, scales, d, c}; }
  simd::F4 load4(int32_t r, int32_t i) const {
    return simd::mul(simd::i8x4ToFloat(p + static_cast<size_t>(r) * d + i, c->zero), simd::load(scales + i));
  }
  float at(int32_t r, int32_t i) const { return static_cast<float>(p[static_cast<size_t>(r) * d + i]) * scales[i]; }
};

// int8 values: one scale per row.
struct Int8RowRows {
  const int8_t* p;
  const float* scales;
  int32_t d;
  const ReaderConstants* c;
  Int8RowRows skip(int32_t r) const { return {p + static_cast<size_t>(r) * d, scales + r, d, c}; }
  simd::F4 load4(int32_t r, int32_t i) const {
    return simd::mul(simd::i8x4ToFloat(p + static_cast<size_t>(r) * d + i, c->zero), simd::splat(scales[r]));
  }
  float at(int32_t r, int32_t i) const { return static_cast<float>(p[static_cast<size_t>(r) * d + i]) * scales[r]; }
};

// Channels i..i+3 (i a multiple of 4) of a row of 4-bit values, as the integers q in [-8, 7].
inline simd::F4 nibbles4(const uint8_t* row, int32_t i, const ReaderConstants& c) {
  using namespace simd;
  const I4 masked = bitsAnd(u16SplatLanes(row + i / 2), c.nibbleMasks);
  return sub(mul(toFloat(masked), c.nibbleUnits), c.nibbleBias);
}

inline float nibbleAt(const uint8_t* row, int32_t i) { return static_cast<float>(((row[i / 2] >> (4 * (i % 2))) & 0x0f) - 8); }

// int4 keys: one scale per channel.
struct Int4ChannelRows {
  const uint8_t* p;
  const float* scales;
  int32_t d;
  const ReaderConstants* c;
  size_t rowBytes() const { return static_cast<size_t>(d / 2); }
  Int4ChannelRows skip(int32_t r) const { return {p + r * rowBytes(), scales, d, c}; }
  simd::F4 load4(int32_t r, int32_t i) const { return simd::mul(nibbles4(p + r * rowBytes(), i, *c), simd::load(scales + i)); }
  float at(int32_t r, int32_t i) const { return nibbleAt(p + r * rowBytes(), i) * scales[i]; }
};

// int4 values: one scale per 32 channels of a row (a 4-aligned run of 4 never straddles two groups).
struct Int4GroupRows {
  const uint8_t* p;
  const float* scales;  // [rows][groups]
  int32_t d;
  const ReaderConstants* c;
  size_t rowBytes() const { return static_cast<size_t>(d / 2); }
  int32_t groups() const { return int4Groups(d); }
  Int4GroupRows skip(int32_t r) const { return {p + r * rowBytes(), scales + static_cast<size_t>(r) * groups(), d, c}; }
  float scale(int32_t r, int32_t i) const { return scales[static_cast<size_t>(r) * groups() + i / kInt4Group]; }
  simd::F4 load4(int32_t r, int32_t i) const { return simd::mul(nibbles4(p + r * rowBytes(), i, *c), simd::splat(scale(r, i))); }
  float at(int32_t r, int32_t i) const { return nibbleAt(p + r * rowBytes(), i) * scale(r, i); }
};

}  // namespace adakv
