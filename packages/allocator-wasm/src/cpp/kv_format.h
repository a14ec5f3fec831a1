// Storage formats of K/V blocks (one per head; a pool holds blocks of several), and the byte layout of a block in each.
// A block holds `B` = blockSize rows of K and of V of one KV head, `d` = headDim floats each:
//   f32   K [B][d] f32, V [B][d] f32                                    8Bd bytes
//   f16   K [B][d] binary16, V [B][d] binary16                          4Bd bytes
//   int8  K scales [d] binary16 (per channel, over the block's rows), V scales [B] binary16 (per
//         row), K [B][d] int8, V [B][d] int8                             2d + 2B + 2Bd bytes
//   int4  K scales [d] binary16 (per channel), V scales [B][ceil(d/32)] binary16 (per row, groups of
//         32 channels), K [B][d/2] and V [B][d/2] bytes of two 4-bit values (low nibble first)
// (int8 and int4 blocks are padded to a multiple of 4 bytes, so every block starts aligned.)
// int8 and int4 are symmetric: s = max|x| / 127 (int8) or / 7 (int4) in f32, stored as the smallest
// binary16 >= it (so no element is clamped and |x - q s| <= s / 2; 2-byte scales hold ~17% more int4
// entries than 4-byte ones in the same bytes at d = 48), q = round(x / s) (int4 stored q + 8).
// Scales saturate at 65504: elements beyond 65504 x levels clamp. Per-channel key scales need the
// block's rows, so a head's partly filled last block of an int8/int4 pool is held in full precision
// (the head's residual) until it fills.
#pragma once
#include <cstddef>
#include <cstdint>

namespace adakv {

enum KvFormat : int32_t { kFormatF32 = 0, kFormatF16 = 1, kFormatInt8 = 2, kFormatInt4 = 3 };
constexpr int32_t kFormatCount = 4;

constexpr int32_t kInt4Group = 32;  // channels per value scale in int4 blocks

inline bool isKvFormat(int32_t format) { return format >= kFormatF32 && format <= kFormatInt4; }
// Whether rows of `d` elements can be stored in `format` (int4 packs two values per byte: d must be even).
inline bool formatFits(int32_t format, int32_t d) { return isKvFormat(format) && (format != kFormatInt4 || d % 2 == 0); }
// int8 and int4 quantize keys per channel over a whole block: its rows wait in f32 until it fills.
inline bool formatNeedsResidual(int32_t format) { return format == kFormatInt8 || format == kFormatInt4; }
inline int32_t int4Groups(int32_t d) { return (d + kInt4Group - 1) / kInt4Group; }

// Where each part of a block lies, in bytes from the block's start.
struct BlockLayout {
  size_t keyScales = 0, valueScales = 0, keys = 0, values = 0, bytes = 0;
  size_t rowBytes = 0;  // bytes of one K (or V) row of quantized elements
};

inline BlockLayout blockLayout(int32_t format, int32_t blockSize, int32_t d) {
  const size_t B = static_cast<size_t>(blockSize), D = static_cast<size_t>(d);
  BlockLayout l;
  switch (format) {
    case kFormatF16: l.rowBytes = 2 * D; break;
    case kFormatInt8: l.rowBytes = D; l.valueScales = 2 * D; l.keys = 2 * D + 2 * B; break;
    case kFormatInt4:
      l.rowBytes = D / 2;
      l.valueScales = 2 * D;
      l.keys = 2 * D + 2 * B * static_cast<size_t>(int4Groups(d));
      break;
    default: l.rowBytes = 4 * D; break;
  }
  l.values = l.keys + B * l.rowBytes;
  l.bytes = (l.values + B * l.rowBytes + 3) & ~static_cast<size_t>(3);  // the next block stays aligned
  return l;
}

// f32 to binary16, rounding to nearest even (overflow to infinity, NaN kept).
uint16_t floatToHalf(float value);
// The binary16 an f16 pool stores: always finite (what its attention reader needs), beyond +-65504
// saturated, NaN stored as 0.
uint16_t storedHalf(float value);
// The binary16 an int8/int4 block stores for a scale s >= 0: the smallest one >= s, at most 65504.
uint16_t scaleHalf(float s);

// Writes `rows` (1..blockSize) rows of K and V, [rows][d] f32 each, into block storage `base` of a
// f16/int8/int4 pool, computing the block's scales over those rows.
void encodeBlock(int32_t format, int32_t blockSize, int32_t d, const float* keys, const float* values, int32_t rows,
                 unsigned char* base);
// Row `slot` of K (kind 0) or V (kind 1) of an encoded block, as f32: exactly the values attention reads.
void decodeRow(int32_t format, int32_t blockSize, int32_t d, const unsigned char* base, int32_t kind, int32_t slot,
               float* out);

}  // namespace adakv
