#include "matmul.h"

#include <type_traits>

#include "formats.h"
#include "simd.h"

namespace adakv {
namespace engine {

namespace {

using namespace simd;

// Float weight readers: 4 weights at a byte address as f32 lanes (kBytes bytes per weight), or one
// weight of a row as a scalar. Created once per call, so their constants live in registers for the
// loops (see opaque() in simd.h). kPairRows: rows a tile reads at once (1 for f16, whose conversion
// needs too many registers for two).
struct F32Weights {
  static constexpr int32_t kBytes = 4;
  static constexpr int kPairRows = 2;
  F4 load4(const uint8_t* p) const { return load(reinterpret_cast<const float*>(p)); }
  float scalar(const uint8_t* row, int32_t i) const {
    float v;
    std::memcpy(&v, row + 4 * static_cast<size_t>(i), 4);
    return v;
  }
};
struct F16Weights {
  static constexpr int32_t kBytes = 2;
  static constexpr int kPairRows = 1;
  HalfConstants half = halfConstants();
  F4 load4(const uint8_t* p) const { return halfToFloat4(reinterpret_cast<const uint16_t*>(p), half); }
  float scalar(const uint8_t* row, int32_t i) const { return halfToFloat(readU16(row + 2 * static_cast<size_t>(i))); }
};
struct BF16Weights {
  static constexpr int32_t kBytes = 2;
  static constexpr int kPairRows = 2;
  F4 load4(const uint8_t* p) const { return bf16ToFloat4(reinterpret_cast<const uint16_t*>(p)); }
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

// Float weights. Every output is computed the same way, whatever the tile, the batch or the thread:
// over the whole 8-float steps, the even 4-float chunks (columns 0-3 of each step) into one 4-lane
// accumulator and the odd chunks (4-7) into another, one more 4-float chunk into the first when
// n % 8 >= 4, then (even + odd) reduced as (l0 + l1) + (l2 + l3), then the n % 4 trailing products in
// order. So a token's result does not depend on the batch around it.
//
// The activations come interleaved (Activations::packed, [n / 4][rows][4], `stride` = 4 x rows floats
// from one chunk to the next), so a tile reads the activations of all its tokens for one chunk from one
// pointer at constant offsets. Two facts about V8 (TurboFan, x64) shaped the tiles (measured here): it
// issues every load of a loop iteration before the arithmetic, so loads + accumulators must fit the 15
// vector registers it allocates, or it spills accumulators to the stack; and two weight rows read side
// by side stream from DRAM at about half the rate of one row alone (whatever their distance), so the
// wide tiles only pay where several tokens share each weight.

// One weight row x T token rows (T <= 3), both chains in one pass: 2 + 2T loads and 2T accumulators
// per step. One sequential weight stream: what decode of one to three sequences, bound by memory, needs.
template <int T, typename Weights>
inline void floatOnePass(const Weights& weights, const uint8_t* row, const float* xp, size_t stride, const float* values,
                         int32_t n, float* out, int32_t outStride) {
  F4 a0[T], a1[T];
  for (int t = 0; t < T; t++) a0[t] = a1[t] = zero();
  const uint8_t* p = row;
  const int32_t steps = n / 8;
  for (int32_t s = 0; s < steps; s++) {
    const F4 w0 = weights.load4(p), w1 = weights.load4(p + 4 * Weights::kBytes);
    for (int t = 0; t < T; t++) {
      a0[t] = madd(w0, load(xp + 4 * t), a0[t]);
      a1[t] = madd(w1, load(xp + stride + 4 * t), a1[t]);
    }
    p += 8 * Weights::kBytes;
    xp += 2 * stride;
  }
  if (n % 8 >= 4) {
    const F4 w0 = weights.load4(p);
    for (int t = 0; t < T; t++) a0[t] = madd(w0, load(xp + 4 * t), a0[t]);
  }
  for (int t = 0; t < T; t++) {
    float total = hsum(add(a0[t], a1[t]));
    for (int32_t j = n & ~3; j < n; j++) total += weights.scalar(row, j) * values[static_cast<size_t>(t) * n + j];
    out[static_cast<size_t>(t) * outStride] = total;
  }
}

// R weight rows (1 or 2, anywhere in the matrix) x T token rows (T <= 4), in two passes: the even
// chunks, then the odd ones (the rows are in L1 by then). Per pass and step R + T loads and R x T
// accumulators (2 x 4: 6 + 8), each weight vector feeding T tokens and each activation vector R rows.
template <int R, int T, typename Weights>
inline void floatTwoPass(const Weights& weights, const uint8_t* const* rows, const float* xp, size_t stride, const float* values,
                         int32_t n, float* const* out, int32_t outStride) {
  F4 even[R][T], odd[R][T];
  for (int pass = 0; pass < 2; pass++) {
    F4 acc[R][T];
    for (int r = 0; r < R; r++)
      for (int t = 0; t < T; t++) acc[r][t] = zero();
    const uint8_t* p[R];
    for (int r = 0; r < R; r++) p[r] = rows[r] + pass * 4 * Weights::kBytes;
    const float* x = xp + pass * stride;
    const int32_t steps = n / 8 + (pass == 0 && n % 8 >= 4 ? 1 : 0);
    for (int32_t s = 0; s < steps; s++) {
      F4 w[R];
      for (int r = 0; r < R; r++) {
        w[r] = weights.load4(p[r]);
        p[r] += 8 * Weights::kBytes;
      }
      for (int t = 0; t < T; t++) {
        const F4 v = load(x + 4 * t);
        for (int r = 0; r < R; r++) acc[r][t] = madd(w[r], v, acc[r][t]);
      }
      x += 2 * stride;
    }
    for (int r = 0; r < R; r++)
      for (int t = 0; t < T; t++) (pass == 0 ? even : odd)[r][t] = acc[r][t];
  }
  for (int r = 0; r < R; r++) {
    for (int t = 0; t < T; t++) {
      float total = hsum(add(even[r][t], odd[r][t]));
      for (int32_t j = n & ~3; j < n; j++) total += weights.scalar(rows[r], j) * values[static_cast<size_t>(t) * n + j];
      out[r][static_cast<size_t>(t) * outStride] = total;
    }
  }
}

// Every token of the batch for R weight rows: tiles of 4 tokens, the rest as 3, 2, 1 (5 = 3 + 2).
template <int R, typename Weights>
__attribute__((noinline)) void floatRowTiles(const Weights& weights, const uint8_t* const* rows, const Activations& x,
                                             float* const* out, int32_t outStride) {
  const int32_t n = x.cols, batch = x.rows;
  const size_t stride = 4 * static_cast<size_t>(batch);
  float* o[R];
  auto tile = [&](auto size, int32_t t) {
    constexpr int T = decltype(size)::value;
    for (int r = 0; r < R; r++) o[r] = out[r] + static_cast<size_t>(t) * outStride;
    floatTwoPass<R, T>(weights, rows, x.packed + 4 * static_cast<size_t>(t), stride, x.values + static_cast<size_t>(t) * n, n, o,
                       outStride);
  };
  int32_t t = 0;
  const int32_t fours = batch % 4 == 1 && batch >= 5 ? batch / 4 - 1 : batch / 4;
  for (int32_t i = 0; i < fours; i++, t += 4) tile(std::integral_constant<int, 4>(), t);
  switch (batch - t) {
    case 5: tile(std::integral_constant<int, 3>(), t); tile(std::integral_constant<int, 2>(), t + 3); break;
    case 3: tile(std::integral_constant<int, 3>(), t); break;
    case 2: tile(std::integral_constant<int, 2>(), t); break;
    case 1: tile(std::integral_constant<int, 1>(), t); break;
    default: break;
  }
}

// Each weight type's row loop is its own (not inlined) function: V8 compiled the one function that
// held all seven types' kernels to about half the speed of the same loops in small functions.
template <typename Weights>
__attribute__((noinline)) void floatRows(const WeightView& w, const Activations& x, float* out, int32_t outStride, int32_t rowBegin,
               int32_t rowEnd) {
  const int32_t n = w.cols;
  const Weights weights;
  auto rowAt = [&](int32_t o) { return w.data + static_cast<size_t>(o) * w.rowBytes; };
  if (x.rows <= 3) {
    const size_t stride = 4 * static_cast<size_t>(x.rows);
    for (int32_t o = rowBegin; o < rowEnd; o++) {
      switch (x.rows) {
        case 1: floatOnePass<1>(weights, rowAt(o), x.packed, stride, x.values, n, out + o, outStride); break;
        case 2: floatOnePass<2>(weights, rowAt(o), x.packed, stride, x.values, n, out + o, outStride); break;
        default: floatOnePass<3>(weights, rowAt(o), x.packed, stride, x.values, n, out + o, outStride); break;
      }
    }
    return;
  }
  // Rows o and o + half of the range go together (two streams far apart).
  int32_t o = rowBegin;
  if (Weights::kPairRows == 2) {
    const int32_t half = (rowEnd - rowBegin) / 2;
    for (; o < rowBegin + half; o++) {
      const uint8_t* rows[2] = {rowAt(o), rowAt(o + half)};
      float* targets[2] = {out + o, out + o + half};
      floatRowTiles<2>(weights, rows, x, targets, outStride);
    }
    o += half;
  }
  for (; o < rowEnd; o++) {
    const uint8_t* rows[1] = {rowAt(o)};
    float* targets[1] = {out + o};
    floatRowTiles<1>(weights, rows, x, targets, outStride);
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
