// Weight tensor formats, with GGML's type ids and llama.cpp's block layouts (ggml-common.h), read in
// place: nothing is repacked, so a tensor's resident bytes are its file bytes.
//   f32   4 bytes per weight
//   f16   2 (IEEE binary16), converted to f32 in registers as it is read
//   bf16  2 (the top half of an f32), widened in registers as it is read
//   q8_0  blocks of 32: f16 scale d, 32 x int8 q; w = d q                              (34 B / 32)
//   q4_0  blocks of 32: f16 d, 16 bytes; byte j holds q_j (low nibble) and q_{j+16}
//         (high nibble); w = d (q - 8)                                                  (18 B / 32)
//   q4_K  super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) pairs for 8
//         sub-blocks of 32, 128 bytes of nibbles; in each 64-weight chunk c the 32 bytes hold
//         sub-block 2c in the low and 2c+1 in the high nibbles; w = d sc_j q - dmin m_j      (144 B / 256)
//   q6_K  super-blocks of 256: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8
//         scales (one per 16 weights), f16 d; w = d sc (q - 32)                          (210 B / 256)
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace adakv {
namespace engine {

enum TensorType : int32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ6_K = 14,
  kBF16 = 30,
};

constexpr int32_t kQ8_0Block = 32, kQ8_0BlockBytes = 34;
constexpr int32_t kQ4_0Block = 32, kQ4_0BlockBytes = 18;
constexpr int32_t kSuperBlock = 256;
constexpr int32_t kQ4_KBlockBytes = 144, kQ6_KBlockBytes = 210;

bool isKnownType(int32_t type);
// Weights per block (1 for f32/f16/bf16).
int32_t blockWeights(int32_t type);
// Bytes of one row of `cols` weights, or 0 when cols is not a whole number of blocks.
size_t rowBytes(int32_t type, int32_t cols);

// binary16 bits to f32, exactly, with no arithmetic on subnormal floats: a normal value's exponent is
// rebased by an integer add (twice for infinities and NaNs), a subnormal one is its mantissa times 2^-24.
inline float halfToFloat(uint16_t h) {
  const uint32_t magnitude = h & 0x7fffu;
  float value;
  if (magnitude < 0x400u) {
    value = static_cast<float>(magnitude) * 5.9604644775390625e-8f;  // 2^-24
  } else {
    uint32_t bits = (magnitude << 13) + (112u << 23);
    if (magnitude >= 0x7c00u) bits += 112u << 23;
    std::memcpy(&value, &bits, 4);
  }
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits |= static_cast<uint32_t>(h & 0x8000u) << 16;
  std::memcpy(&value, &bits, 4);
  return value;
}

inline float bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

inline uint16_t readU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// llama.cpp's get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) of a q4_K super-block.
inline void q4kScaleMin(int32_t j, const uint8_t* scales, int32_t* scale, int32_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
    *min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

// One row of `cols` weights of any type to f32 (embedding lookups, tests, norms given as f16/bf16).
void dequantizeRow(int32_t type, const uint8_t* row, int32_t cols, float* out);

}  // namespace engine
}  // namespace adakv
