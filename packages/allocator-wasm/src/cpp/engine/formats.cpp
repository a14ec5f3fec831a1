#include "formats.h"

namespace adakv {
namespace engine {

bool isKnownType(int32_t type) {
  switch (type) {
    case kF32: case kF16: case kBF16: case kQ8_0: case kQ4_0: case kQ4_K: case kQ6_K: return true;
    default: return false;
  }
}

int32_t blockWeights(int32_t type) {
  switch (type) {
    case kQ8_0: return kQ8_0Block;
    case kQ4_0: return kQ4_0Block;
    case kQ4_K: case kQ6_K: return kSuperBlock;
    default: return 1;
  }
}

size_t rowBytes(int32_t type, int32_t cols) {
  if (cols <= 0 || !isKnownType(type) || cols % blockWeights(type) != 0) return 0;
  const size_t blocks = static_cast<size_t>(cols / blockWeights(type));
  switch (type) {
    case kF32: return blocks * 4;
    case kF16: case kBF16: return blocks * 2;
    case kQ8_0: return blocks * kQ8_0BlockBytes;
    case kQ4_0: return blocks * kQ4_0BlockBytes;
    case kQ4_K: return blocks * kQ4_KBlockBytes;
    case kQ6_K: return blocks * kQ6_KBlockBytes;
    default: return 0;
  }
}

void dequantizeRow(int32_t type, const uint8_t* row, int32_t cols, float* out) {
  switch (type) {
    case kF32:
      std::memcpy(out, row, static_cast<size_t>(cols) * 4);
      return;
    case kF16:
      for (int32_t i = 0; i < cols; i++) out[i] = halfToFloat(readU16(row + 2 * i));
      return;
    case kBF16:
      for (int32_t i = 0; i < cols; i++) out[i] = bf16ToFloat(readU16(row + 2 * i));
      return;
    case kQ8_0:
      for (int32_t b = 0; b < cols / kQ8_0Block; b++) {
        const uint8_t* block = row + static_cast<size_t>(b) * kQ8_0BlockBytes;
        const float d = halfToFloat(readU16(block));
        for (int32_t i = 0; i < kQ8_0Block; i++) out[b * kQ8_0Block + i] = d * static_cast<int8_t>(block[2 + i]);
      }
      return;
    case kQ4_0:
      for (int32_t b = 0; b < cols / kQ4_0Block; b++) {
        const uint8_t* block = row + static_cast<size_t>(b) * kQ4_0BlockBytes;
        const float d = halfToFloat(readU16(block));
        for (int32_t j = 0; j < 16; j++) {
          out[b * 32 + j] = d * static_cast<float>((block[2 + j] & 0x0f) - 8);
          out[b * 32 + j + 16] = d * static_cast<float>((block[2 + j] >> 4) - 8);
        }
      }
      return;
    case kQ4_K:
      for (int32_t b = 0; b < cols / kSuperBlock; b++) {
        const uint8_t* block = row + static_cast<size_t>(b) * kQ4_KBlockBytes;
        const float d = halfToFloat(readU16(block)), dmin = halfToFloat(readU16(block + 2));
        const uint8_t* scales = block + 4;
        const uint8_t* q = block + 16;
        float* y = out + b * kSuperBlock;
        for (int32_t chunk = 0; chunk < 4; chunk++) {
          int32_t sc0, m0, sc1, m1;
          q4kScaleMin(2 * chunk, scales, &sc0, &m0);
          q4kScaleMin(2 * chunk + 1, scales, &sc1, &m1);
          const float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
          for (int32_t l = 0; l < 32; l++) {
            y[64 * chunk + l] = d0 * static_cast<float>(q[32 * chunk + l] & 0x0f) - min0;
            y[64 * chunk + 32 + l] = d1 * static_cast<float>(q[32 * chunk + l] >> 4) - min1;
          }
        }
      }
      return;
    case kQ6_K:
      for (int32_t b = 0; b < cols / kSuperBlock; b++) {
        const uint8_t* block = row + static_cast<size_t>(b) * kQ6_KBlockBytes;
        const uint8_t* ql = block;
        const uint8_t* qh = block + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(block + 192);
        const float d = halfToFloat(readU16(block + 208));
        float* y = out + b * kSuperBlock;
        for (int32_t half = 0; half < 2; half++) {
          for (int32_t l = 0; l < 32; l++) {
            const int32_t is = l / 16;
            const int32_t q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int32_t q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int32_t q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int32_t q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * static_cast<float>(q1);
            y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
            y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
            y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
          }
          y += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
      }
      return;
    default:
      return;
  }
}

}  // namespace engine
}  // namespace adakv
