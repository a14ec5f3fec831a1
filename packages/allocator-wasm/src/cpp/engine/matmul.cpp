#include "matmul.h"

#include "formats.h"
#include "simd.h"

namespace adakv {
namespace engine {

namespace {

using namespace simd;

// Float weight readers: 4 weights of a row as f32 lanes, or one as a scalar. Created once per call, so
// their constants live in registers for the loops (see opaque() in simd.h).
struct F32Weights {
  F4 load4(const uint8_t* row, int32_t i) const { return load(reinterpret_cast<const float*>(row) + i); }
  float scalar(const uint8_t* row, int32_t i) const {
    float v;
    std::memcpy(&v, row + 4 * static_cast<size_t>(i), 4);
    return v;
  }
};
struct F16Weights {
  HalfConstants half = halfConstants();
  F4 load4(const uint8_t* row, int32_t i) const { return halfToFloat4(reinterpret_cast<const uint16_t*>(row) + i, half); }
  float scalar(const uint8_t* row, int32_t i) const { return halfToFloat(readU16(row + 2 * static_cast<size_t>(i))); }
};
struct BF16Weights {
  F4 load4(const uint8_t* row, int32_t i) const { return bf16ToFloat4(reinterpret_cast<const uint16_t*>(row) + i); }
  float scalar(const uint8_t* row, int32_t i) const { return bf16ToFloat(readU16(row + 2 * static_cast<size_t>(i))); }
};

// Constants of the quantized kernels, made once per call.
struct QuantConstants {
  HalfConstants half = halfConstants();
  B16 low4 = opaque(bytesSplat(0x0f));
  B16 eight = opaque(bytesSplat(8));
  B16 three = opaque(bytesSplat(3));
  B16 thirtyTwo = opaque(bytesSplat(32));
};

// One weight row x T token rows. Per output: two 4-lane accumulators over 8-float steps, one more
// 4-float step into the first when n % 8 >= 4, then (a0 + a1) reduced as (l0 + l1) + (l2 + l3), then
// the n % 4 trailing products in order. Every tile size computes each output exactly so, which makes a
// token's result independent of the batch around it. One weight row at a time keeps the weights one
// sequential stream (several interleaved rows streamed 2-3x slower from DRAM here).
template <int T, typename Weights>
inline void floatRowTile(const Weights& weights, const uint8_t* wRow, const float* const* xRows, int32_t n, float* out,
                         int32_t outStride) {
  F4 a0[T], a1[T];
  for (int t = 0; t < T; t++) a0[t] = a1[t] = zero();
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const F4 w0 = weights.load4(wRow, i), w1 = weights.load4(wRow, i + 4);
    for (int t = 0; t < T; t++) {
      a0[t] = madd(w0, load(xRows[t] + i), a0[t]);
      a1[t] = madd(w1, load(xRows[t] + i + 4), a1[t]);
    }
  }
  if (i + 4 <= n) {
    const F4 w0 = weights.load4(wRow, i);
    for (int t = 0; t < T; t++) a0[t] = madd(w0, load(xRows[t] + i), a0[t]);
    i += 4;
  }
  for (int t = 0; t < T; t++) {
    float total = hsum(add(a0[t], a1[t]));
    for (int32_t j = i; j < n; j++) total += weights.scalar(wRow, j) * xRows[t][j];
    out[static_cast<size_t>(t) * outStride] = total;
  }
}

// Each weight type's row loop is its own (not inlined) function: V8 compiled the one function that
// held all seven types' kernels to about half the speed of the same loops in small functions.
template <typename Weights>
__attribute__((noinline)) void floatRows(const WeightView& w, const Activations& x, float* out, int32_t outStride, int32_t rowBegin,
               int32_t rowEnd) {
  const int32_t n = w.cols;
  const float* xRows[4];
  const Weights weights;
  for (int32_t o = rowBegin; o < rowEnd; o++) {
    const uint8_t* row = w.data + static_cast<size_t>(o) * w.rowBytes;
    int32_t t = 0;
    for (; t + 4 <= x.rows; t += 4) {
      for (int k = 0; k < 4; k++) xRows[k] = x.values + static_cast<size_t>(t + k) * n;
      floatRowTile<4, Weights>(weights, row, xRows, n, out + static_cast<size_t>(t) * outStride + o, outStride);
    }
    for (; t + 2 <= x.rows; t += 2) {
      for (int k = 0; k < 2; k++) xRows[k] = x.values + static_cast<size_t>(t + k) * n;
      floatRowTile<2, Weights>(weights, row, xRows, n, out + static_cast<size_t>(t) * outStride + o, outStride);
    }
    for (; t < x.rows; t++) {
      xRows[0] = x.values + static_cast<size_t>(t) * n;
      floatRowTile<1, Weights>(weights, row, xRows, n, out + static_cast<size_t>(t) * outStride + o, outStride);
    }
  }
}

// Sum over 32 int16 activations of w * x, w given as four vectors of 8 widened weights.
inline I4 dot32(I8 w0, I8 w1, I8 w2, I8 w3, const int16_t* x) {
  const I4 a = i32add(dotI16(w0, loadI16(x)), dotI16(w1, loadI16(x + 8)));
  const I4 b = i32add(dotI16(w2, loadI16(x + 16)), dotI16(w3, loadI16(x + 24)));
  return i32add(a, b);
}

// Sum over 16 int16 activations of w * x, w sixteen signed bytes.
inline I4 dot16(B16 w, const int16_t* x) {
  return i32add(dotI16(widenLow(w), loadI16(x)), dotI16(widenHigh(w), loadI16(x + 8)));
}

// Quantized rows: one weight row against T token rows at a time, each weight block unpacked once for
// the T tokens. Per output, the blocks are accumulated in order into one 4-lane accumulator, the same
// for every T.
struct TokenRows {
  const int16_t* q[4];
  const float* d[4];
  const int32_t* sums[4];
};

// The f16 scales of blocks b..b+3 (at `stride` bytes apart) as 4 lanes.
inline F4 blockScales4(const uint8_t* first, size_t stride, const HalfConstants& half) {
  return halfBitsToFloat4(i32make(readU16(first), readU16(first + stride), readU16(first + 2 * stride), readU16(first + 3 * stride)), half);
}

// q8_0 and q4_0 share the block loop: blocks go in groups of 4, whose integer sums are reduced into one
// vector (lane k = block k) and scaled by 4 scales at once; trailing blocks one at a time. Unpack
// gives a block's 32 weights as four vectors of 8 x int16.
template <int T, int BlockBytes, typename Unpack>
inline void dotBlocks32(const uint8_t* row, const TokenRows& x, int32_t blocks, float* out, int32_t outStride,
                        const QuantConstants& k, Unpack unpack) {
  F4 acc[T];
  for (int t = 0; t < T; t++) acc[t] = zero();
  int32_t b = 0;
  for (; b + 4 <= blocks; b += 4) {
    const uint8_t* block = row + static_cast<size_t>(b) * BlockBytes;
    const F4 dw = blockScales4(block, BlockBytes, k.half);
    I8 w[4][4];
    for (int k = 0; k < 4; k++) unpack(block + k * BlockBytes, w[k]);
    for (int t = 0; t < T; t++) {
      const int16_t* xq = x.q[t] + 32 * b;
      const I4 sums = i32hsum4(dot32(w[0][0], w[0][1], w[0][2], w[0][3], xq), dot32(w[1][0], w[1][1], w[1][2], w[1][3], xq + 32),
                               dot32(w[2][0], w[2][1], w[2][2], w[2][3], xq + 64), dot32(w[3][0], w[3][1], w[3][2], w[3][3], xq + 96));
      acc[t] = madd(toFloat(sums), mul(dw, load(x.d[t] + b)), acc[t]);
    }
  }
  for (; b < blocks; b++) {
    const uint8_t* block = row + static_cast<size_t>(b) * BlockBytes;
    const float d = halfToFloat(readU16(block));
    I8 w[4];
    unpack(block, w);
    for (int t = 0; t < T; t++) {
      const I4 sum = dot32(w[0], w[1], w[2], w[3], x.q[t] + 32 * b);
      acc[t] = madd(toFloat(sum), splat(d * x.d[t][b]), acc[t]);
    }
  }
  for (int t = 0; t < T; t++) out[static_cast<size_t>(t) * outStride] = hsum(acc[t]);
}

template <int T>
void dotQ8_0(const uint8_t* row, const TokenRows& x, int32_t blocks, float* out, int32_t outStride, const QuantConstants& k) {
  dotBlocks32<T, kQ8_0BlockBytes>(row, x, blocks, out, outStride, k, [](const uint8_t* block, I8* w) {
    const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
    w[0] = loadI8x8(q);
    w[1] = loadI8x8(q + 8);
    w[2] = loadI8x8(q + 16);
    w[3] = loadI8x8(q + 24);
  });
}

template <int T>
void dotQ4_0(const uint8_t* row, const TokenRows& x, int32_t blocks, float* out, int32_t outStride, const QuantConstants& k) {
  dotBlocks32<T, kQ4_0BlockBytes>(row, x, blocks, out, outStride, k, [&k](const uint8_t* block, I8* w) {
    const B16 packed = loadBytes(block + 2);
    const B16 low = i8sub(bytesAndV(packed, k.low4), k.eight), high = i8sub(highNibbles(packed), k.eight);
    w[0] = widenLow(low);
    w[1] = widenHigh(low);
    w[2] = widenLow(high);
    w[3] = widenHigh(high);
  });
}

template <int T>
void dotQ4_K(const uint8_t* row, const TokenRows& x, int32_t blocks, float* out, int32_t outStride, const QuantConstants& k) {
  F4 acc[T];
  float minTotal[T];
  for (int t = 0; t < T; t++) {
    acc[t] = zero();
    minTotal[t] = 0.0f;
  }
  for (int32_t b = 0; b < blocks; b++) {
    const uint8_t* block = row + static_cast<size_t>(b) * kQ4_KBlockBytes;
    const uint8_t* scales = block + 4;
    const uint8_t* q = block + 16;
    int32_t sc[8], m[8];
    for (int32_t j = 0; j < 8; j++) q4kScaleMin(j, scales, &sc[j], &m[j]);
    I4 total[T];
    int32_t minSum[T];
    for (int t = 0; t < T; t++) {
      total[t] = i32zero();
      minSum[t] = 0;
    }
    for (int32_t chunk = 0; chunk < 4; chunk++) {
      const B16 a = loadBytes(q + 32 * chunk), c = loadBytes(q + 32 * chunk + 16);
      const B16 la = bytesAndV(a, k.low4), lc = bytesAndV(c, k.low4), ha = highNibbles(a), hc = highNibbles(c);
      const I4 sLow = i32splat(sc[2 * chunk]), sHigh = i32splat(sc[2 * chunk + 1]);
      for (int t = 0; t < T; t++) {
        const int16_t* x0 = x.q[t] + kSuperBlock * b + 64 * chunk;
        const I4 low = i32add(dot16(la, x0), dot16(lc, x0 + 16));
        const I4 high = i32add(dot16(ha, x0 + 32), dot16(hc, x0 + 48));
        total[t] = i32add(total[t], i32add(i32mul(low, sLow), i32mul(high, sHigh)));
      }
    }
    const float d = halfToFloat(readU16(block)), dmin = halfToFloat(readU16(block + 2));
    for (int t = 0; t < T; t++) {
      const int32_t* s = x.sums[t] + 8 * b;
      for (int32_t j = 0; j < 8; j++) minSum[t] += m[j] * s[j];
      const float dx = x.d[t][b];
      acc[t] = madd(toFloat(total[t]), splat(d * dx), acc[t]);
      minTotal[t] += dmin * dx * static_cast<float>(minSum[t]);
    }
  }
  for (int t = 0; t < T; t++) out[static_cast<size_t>(t) * outStride] = hsum(acc[t]) - minTotal[t];
}

template <int T>
void dotQ6_K(const uint8_t* row, const TokenRows& x, int32_t blocks, float* out, int32_t outStride, const QuantConstants& k) {
  F4 acc[T];
  for (int t = 0; t < T; t++) acc[t] = zero();
  for (int32_t b = 0; b < blocks; b++) {
    const uint8_t* block = row + static_cast<size_t>(b) * kQ6_KBlockBytes;
    const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
    I4 total[T];
    for (int t = 0; t < T; t++) total[t] = i32zero();
    for (int32_t half = 0; half < 2; half++) {
      const uint8_t* ql = block + 64 * half;
      const uint8_t* qh = block + 128 + 32 * half;
      const int8_t* sc = scales + 8 * half;
      for (int32_t l = 0; l < 32; l += 16) {
        const B16 low0 = loadBytes(ql + l), low1 = loadBytes(ql + 32 + l), high = loadBytes(qh + l);
        const B16 q1 = i8sub(bytesOr(bytesAndV(low0, k.low4), u8shl(bytesAndV(high, k.three), 4)), k.thirtyTwo);
        const B16 q2 = i8sub(bytesOr(bytesAndV(low1, k.low4), u8shl(bytesAndV(u8shr(high, 2), k.three), 4)), k.thirtyTwo);
        const B16 q3 = i8sub(bytesOr(highNibbles(low0), u8shl(bytesAndV(u8shr(high, 4), k.three), 4)), k.thirtyTwo);
        const B16 q4 = i8sub(bytesOr(highNibbles(low1), u8shl(u8shr(high, 6), 4)), k.thirtyTwo);
        const int32_t is = l / 16;
        const I4 s1 = i32splat(sc[is]), s2 = i32splat(sc[is + 2]), s3 = i32splat(sc[is + 4]), s4 = i32splat(sc[is + 6]);
        for (int t = 0; t < T; t++) {
          const int16_t* xs = x.q[t] + kSuperBlock * b + 128 * half + l;
          I4 part = i32mul(dot16(q1, xs), s1);
          part = i32add(part, i32mul(dot16(q2, xs + 32), s2));
          part = i32add(part, i32mul(dot16(q3, xs + 64), s3));
          part = i32add(part, i32mul(dot16(q4, xs + 96), s4));
          total[t] = i32add(total[t], part);
        }
      }
    }
    const float d = halfToFloat(readU16(block + 208));
    for (int t = 0; t < T; t++) acc[t] = madd(toFloat(total[t]), splat(d * x.d[t][b]), acc[t]);
  }
  for (int t = 0; t < T; t++) out[static_cast<size_t>(t) * outStride] = hsum(acc[t]);
}

using QuantKernel = void (*)(const uint8_t*, const TokenRows&, int32_t, float*, int32_t, const QuantConstants&);

template <QuantKernel K4, QuantKernel K2, QuantKernel K1>
__attribute__((noinline)) void quantizedRows(const WeightView& w, const Activations& x, bool kQuant, float* out, int32_t outStride,
                   int32_t rowBegin, int32_t rowEnd) {
  const int32_t n = w.cols;
  const int32_t groups = kQuant ? n / kSuperBlock : n / 32;
  const int16_t* q = kQuant ? x.q256 : x.q32;
  const float* d = kQuant ? x.d256 : x.d32;
  TokenRows rows;
  const QuantConstants constants;
  auto point = [&](int k, int32_t t) {
    rows.q[k] = q + static_cast<size_t>(t) * n;
    rows.d[k] = d + static_cast<size_t>(t) * groups;
    rows.sums[k] = kQuant ? x.sums + static_cast<size_t>(t) * (n / 32) : nullptr;
  };
  for (int32_t o = rowBegin; o < rowEnd; o++) {
    const uint8_t* row = w.data + static_cast<size_t>(o) * w.rowBytes;
    int32_t t = 0;
    for (; t + 4 <= x.rows; t += 4) {
      for (int k = 0; k < 4; k++) point(k, t + k);
      K4(row, rows, groups, out + static_cast<size_t>(t) * outStride + o, outStride, constants);
    }
    for (; t + 2 <= x.rows; t += 2) {
      for (int k = 0; k < 2; k++) point(k, t + k);
      K2(row, rows, groups, out + static_cast<size_t>(t) * outStride + o, outStride, constants);
    }
    for (; t < x.rows; t++) {
      point(0, t);
      K1(row, rows, groups, out + static_cast<size_t>(t) * outStride + o, outStride, constants);
    }
  }
}

}  // namespace

int32_t activationKind(int32_t type) {
  switch (type) {
    case kQ8_0: case kQ4_0: return 1;
    case kQ4_K: case kQ6_K: return 2;
    default: return 0;
  }
}

void matmulRows(const WeightView& w, const Activations& x, float* out, int32_t outStride, int32_t rowBegin,
                int32_t rowEnd) {
  switch (w.type) {
    case kF32: return floatRows<F32Weights>(w, x, out, outStride, rowBegin, rowEnd);
    case kF16: return floatRows<F16Weights>(w, x, out, outStride, rowBegin, rowEnd);
    case kBF16: return floatRows<BF16Weights>(w, x, out, outStride, rowBegin, rowEnd);
    case kQ8_0: return quantizedRows<dotQ8_0<4>, dotQ8_0<2>, dotQ8_0<1>>(w, x, false, out, outStride, rowBegin, rowEnd);
    case kQ4_0: return quantizedRows<dotQ4_0<4>, dotQ4_0<2>, dotQ4_0<1>>(w, x, false, out, outStride, rowBegin, rowEnd);
    case kQ4_K: return quantizedRows<dotQ4_K<4>, dotQ4_K<2>, dotQ4_K<1>>(w, x, true, out, outStride, rowBegin, rowEnd);
    case kQ6_K: return quantizedRows<dotQ6_K<4>, dotQ6_K<2>, dotQ6_K<1>>(w, x, true, out, outStride, rowBegin, rowEnd);
    default: return;
  }
}

}  // namespace engine
}  // namespace adakv
