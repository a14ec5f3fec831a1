#include "kv_format.h"

#include <cmath>
#include <cstring>

#include "engine/formats.h"

namespace adakv {

namespace {

// Symmetric scale of `count` values `stride` floats apart: max|x| / levels (0 for all zeros).
float scaleOf(const float* x, int32_t count, size_t stride, float levels) {
  float peak = 0.0f;
  for (int32_t i = 0; i < count; i++) {
    const float a = std::fabs(x[static_cast<size_t>(i) * stride]);
    peak = a > peak ? a : peak;
  }
  return peak / levels;
}

// round(x / s) clamped to [-limit, limit]; 0 when s is 0.
int32_t quantize(float x, float s, int32_t limit) {
  if (s == 0.0f) return 0;
  const float q = std::nearbyint(x / s);
  return q > static_cast<float>(limit) ? limit : q < static_cast<float>(-limit) ? -limit : static_cast<int32_t>(q);
}

void encodeF16(int32_t d, const float* rows, int32_t count, uint16_t* out) {
  for (size_t i = 0; i < static_cast<size_t>(count) * d; i++) out[i] = storedHalf(rows[i]);
}

// Stores the scale of `count` values `stride` floats apart as its binary16 and returns the scale the
// levels are computed with: the stored one, so decoding gives back exactly q x stored.
float storeScale(const float* x, int32_t count, size_t stride, float levels, uint16_t* stored) {
  *stored = scaleHalf(scaleOf(x, count, stride, levels));
  return engine::halfToFloat(*stored);
}

void encodeInt8(int32_t blockSize, int32_t d, const float* keys, const float* values, int32_t rows, unsigned char* base) {
  const BlockLayout l = blockLayout(kFormatInt8, blockSize, d);
  uint16_t* keyScales = reinterpret_cast<uint16_t*>(base + l.keyScales);
  uint16_t* valueScales = reinterpret_cast<uint16_t*>(base + l.valueScales);
  int8_t* k = reinterpret_cast<int8_t*>(base + l.keys);
  int8_t* v = reinterpret_cast<int8_t*>(base + l.values);
  for (int32_t c = 0; c < d; c++) {
    const float s = storeScale(keys + c, rows, static_cast<size_t>(d), 127.0f, keyScales + c);
    for (int32_t r = 0; r < rows; r++) {
      const size_t at = static_cast<size_t>(r) * d + c;
      k[at] = static_cast<int8_t>(quantize(keys[at], s, 127));
    }
  }
  for (int32_t r = 0; r < rows; r++) {
    const float* row = values + static_cast<size_t>(r) * d;
    const float s = storeScale(row, d, 1, 127.0f, valueScales + r);
    for (int32_t c = 0; c < d; c++) v[static_cast<size_t>(r) * d + c] = static_cast<int8_t>(quantize(row[c], s, 127));
  }
}

// Two 4-bit values per byte, channel 2j in the low nibble, stored as q + 8 (q in [-7, 7]).
void putNibble(unsigned char* row, int32_t c, int32_t q) {
  const unsigned char nibble = static_cast<unsigned char>(q + 8);
  unsigned char& byte = row[c / 2];
  byte = c % 2 == 0 ? static_cast<unsigned char>((byte & 0xf0) | nibble) : static_cast<unsigned char>((byte & 0x0f) | (nibble << 4));
}

int32_t getNibble(const unsigned char* row, int32_t c) { return ((row[c / 2] >> (4 * (c % 2))) & 0x0f) - 8; }

void encodeInt4(int32_t blockSize, int32_t d, const float* keys, const float* values, int32_t rows, unsigned char* base) {
  const BlockLayout l = blockLayout(kFormatInt4, blockSize, d);
  const int32_t groups = int4Groups(d);
  uint16_t* keyScales = reinterpret_cast<uint16_t*>(base + l.keyScales);
  uint16_t* valueScales = reinterpret_cast<uint16_t*>(base + l.valueScales);
  for (int32_t c = 0; c < d; c++) {
    const float s = storeScale(keys + c, rows, static_cast<size_t>(d), 7.0f, keyScales + c);
    for (int32_t r = 0; r < rows; r++) putNibble(base + l.keys + r * l.rowBytes, c, quantize(keys[static_cast<size_t>(r) * d + c], s, 7));
  }
  for (int32_t r = 0; r < rows; r++) {
    const float* row = values + static_cast<size_t>(r) * d;
    for (int32_t g = 0; g < groups; g++) {
      const int32_t first = g * kInt4Group, count = d - first < kInt4Group ? d - first : kInt4Group;
      const float s = storeScale(row + first, count, 1, 7.0f, valueScales + static_cast<size_t>(r) * groups + g);
      for (int32_t c = first; c < first + count; c++) putNibble(base + l.values + r * l.rowBytes, c, quantize(row[c], s, 7));
    }
  }
}

}  // namespace

uint16_t floatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exponent = (x >> 23) & 0xffu;
  uint32_t mantissa = x & 0x7fffffu;
  if (exponent == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa != 0 ? 0x200u : 0u));
  const int32_t e = static_cast<int32_t>(exponent) - 112;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) half++;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;  // a carry into the exponent is right
  return static_cast<uint16_t>(sign | half);
}

uint16_t scaleHalf(float s) {
  if (!(s > 0.0f)) return 0;
  uint16_t h = floatToHalf(s);
  if (h >= 0x7c00u) return 0x7bffu;  // beyond 65504: saturated
  if (engine::halfToFloat(h) < s) h++;  // rounded down: the next binary16 up
  return h > 0x7bffu ? static_cast<uint16_t>(0x7bffu) : h;
}

uint16_t storedHalf(float x) {
  if (x != x) return 0;
  return floatToHalf(x > 65504.0f ? 65504.0f : x < -65504.0f ? -65504.0f : x);
}

void encodeBlock(int32_t format, int32_t blockSize, int32_t d, const float* keys, const float* values, int32_t rows,
                 unsigned char* base) {
  const BlockLayout l = blockLayout(format, blockSize, d);
  if (format == kFormatF16) {
    encodeF16(d, keys, rows, reinterpret_cast<uint16_t*>(base + l.keys));
    encodeF16(d, values, rows, reinterpret_cast<uint16_t*>(base + l.values));
  } else if (format == kFormatInt8) {
    encodeInt8(blockSize, d, keys, values, rows, base);
  } else if (format == kFormatInt4) {
    encodeInt4(blockSize, d, keys, values, rows, base);
  }
}

void decodeRow(int32_t format, int32_t blockSize, int32_t d, const unsigned char* base, int32_t kind, int32_t slot,
               float* out) {
  const BlockLayout l = blockLayout(format, blockSize, d);
  const unsigned char* row = base + (kind == 0 ? l.keys : l.values) + static_cast<size_t>(slot) * l.rowBytes;
  const uint16_t* keyScales = reinterpret_cast<const uint16_t*>(base + l.keyScales);
  const uint16_t* valueScales = reinterpret_cast<const uint16_t*>(base + l.valueScales);
  if (format == kFormatF16) {
    for (int32_t c = 0; c < d; c++) out[c] = engine::halfToFloat(reinterpret_cast<const uint16_t*>(row)[c]);
  } else if (format == kFormatInt8) {
    const int8_t* q = reinterpret_cast<const int8_t*>(row);
    for (int32_t c = 0; c < d; c++) out[c] = static_cast<float>(q[c]) * engine::halfToFloat(kind == 0 ? keyScales[c] : valueScales[slot]);
  } else if (format == kFormatInt4) {
    const int32_t groups = int4Groups(d);
    for (int32_t c = 0; c < d; c++) {
      const uint16_t s = kind == 0 ? keyScales[c] : valueScales[static_cast<size_t>(slot) * groups + c / kInt4Group];
      out[c] = static_cast<float>(getNibble(row, c)) * engine::halfToFloat(s);
    }
  } else {
    std::memcpy(out, row, static_cast<size_t>(d) * sizeof(float));
  }
}

}  // namespace adakv
