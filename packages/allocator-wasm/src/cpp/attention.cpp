#include "attention.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "block_readers.h"
#include "engine/simd.h"
#include "engine/threads.h"

namespace adakv {

namespace {

using namespace simd;

// Reads one float of each 64-byte line of [begin, end) into `sink`: the next block's K and V start
// coming from memory, all lines at once, while this block is computed. WebAssembly has no prefetch
// instruction; without this the kernel ran about half as fast on caches much larger than the CPU
// caches (measured here; touching at the start of each block beat spreading the touches over the
// block, touching two blocks ahead, and summing the touches in four chains instead of one).
inline void touchLines(const float* begin, const float* end, F4* sink) {
  F4 total = *sink;
  for (const float* p = begin; p < end; p += 16) total = add(total, loadSplat(p));
  *sink = total;
}

// logits[g][r] = scale * q_g . k_r for G heads x R rows: each K vector is loaded once for the G heads
// and each query vector once for the R rows; per logit one 4-lane accumulator reduced
// (l0 + l1) + (l2 + l3), then the d % 4 tail in order.
template <int G, int R, class KR>
inline void logitTile(const float* queries, const KR& keys, int32_t d, float scale, float* logits, int32_t stride) {
  F4 acc[G][R];
  for (int g = 0; g < G; g++)
    for (int r = 0; r < R; r++) acc[g][r] = zero();
  int32_t i = 0;
  for (; i + 4 <= d; i += 4) {
    F4 k[R];
    for (int r = 0; r < R; r++) k[r] = keys.load4(r, i);
    for (int g = 0; g < G; g++) {
      const F4 q = load(queries + static_cast<size_t>(g) * d + i);
      for (int r = 0; r < R; r++) acc[g][r] = madd(q, k[r], acc[g][r]);
    }
  }
  for (int g = 0; g < G; g++) {
    for (int r = 0; r < R; r++) {
      float total = hsum(acc[g][r]);
      for (int32_t j = i; j < d; j++) total += queries[static_cast<size_t>(g) * d + j] * keys.at(r, j);
      logits[g * stride + r] = total * scale;
    }
  }
}

// One block's logits for G heads.
template <int G, class KR>
void logitsForGroup(const float* queries, const KR& keys, int32_t rows, int32_t d, float scale, float* logits,
                    int32_t stride) {
  constexpr int R = G >= 4 ? 2 : 4;
  int32_t r = 0;
  for (; r + R <= rows; r += R) logitTile<G, R>(queries, keys.skip(r), d, scale, logits + r, stride);
  for (; r < rows; r++) logitTile<G, 1>(queries, keys.skip(r), d, scale, logits + r, stride);
}

// out[g] = out[g] * keep[g] + sum_r weights[g][r] v_r, two heads at a time over 16-float strips of d:
// each V vector is loaded once per pair of heads.
template <int G, class VR>
void accumulatePair(float* out, const float* keep, const float* weights, int32_t stride, const VR& values,
                    int32_t rows, int32_t d) {
  int32_t i = 0;
  for (; i + 16 <= d; i += 16) {
    F4 a[G][4];
    for (int g = 0; g < G; g++) {
      const F4 k = splat(keep[g]);
      for (int c = 0; c < 4; c++) a[g][c] = mul(load(out + static_cast<size_t>(g) * d + i + 4 * c), k);
    }
    for (int32_t r = 0; r < rows; r++) {
      F4 vv[4];
      for (int c = 0; c < 4; c++) vv[c] = values.load4(r, i + 4 * c);
      for (int g = 0; g < G; g++) {
        const F4 w = loadSplat(weights + g * stride + r);
        for (int c = 0; c < 4; c++) a[g][c] = madd(w, vv[c], a[g][c]);
      }
    }
    for (int g = 0; g < G; g++) {
      for (int c = 0; c < 4; c++) store(out + static_cast<size_t>(g) * d + i + 4 * c, a[g][c]);
    }
  }
  for (; i + 4 <= d; i += 4) {
    F4 a[G];
    for (int g = 0; g < G; g++) a[g] = mul(load(out + static_cast<size_t>(g) * d + i), splat(keep[g]));
    for (int32_t r = 0; r < rows; r++) {
      const F4 v = values.load4(r, i);
      for (int g = 0; g < G; g++) a[g] = madd(loadSplat(weights + g * stride + r), v, a[g]);
    }
    for (int g = 0; g < G; g++) store(out + static_cast<size_t>(g) * d + i, a[g]);
  }
  for (; i < d; i++) {
    for (int g = 0; g < G; g++) {
      float acc = out[static_cast<size_t>(g) * d + i] * keep[g];
      for (int32_t r = 0; r < rows; r++) acc += weights[g * stride + r] * values.at(r, i);
      out[static_cast<size_t>(g) * d + i] = acc;
    }
  }
}

template <int G, class VR>
void accumulateGroup(float* out, const float* keep, const float* weights, int32_t stride, const VR& values,
                     int32_t rows, int32_t d) {
  int g = 0;
  for (; g + 2 <= G; g += 2) {
    accumulatePair<2>(out + static_cast<size_t>(g) * d, keep + g, weights + g * stride, stride, values, rows, d);
  }
  if (g < G) accumulatePair<1>(out + static_cast<size_t>(g) * d, keep + g, weights + g * stride, stride, values, rows, d);
}

// Turns one block's logits of one head into weights in place (e^(logit - newMax)), updating the running
// max and sum; returns the factor that rescales what was accumulated before.
float onlineSoftmax(float* logits, int32_t rows, float* runningMax, float* runningSum, const ExpConstants& c) {
  float blockMax = logits[0];
  for (int32_t r = 1; r < rows; r++) blockMax = logits[r] > blockMax ? logits[r] : blockMax;
  const float nextMax = blockMax > *runningMax ? blockMax : *runningMax;
  const float keep = *runningMax == -INFINITY ? 0.0f : lane(simd::exp(splat(*runningMax - nextMax), c), 0);
  F4 sum4 = zero();
  int32_t r = 0;
  const F4 shift = splat(nextMax);
  for (; r + 4 <= rows; r += 4) {
    const F4 w = simd::exp(sub(load(logits + r), shift), c);
    store(logits + r, w);
    sum4 = add(sum4, w);
  }
  float sum = *runningSum * keep + hsum(sum4);
  for (; r < rows; r++) {
    logits[r] = lane(simd::exp(splat(logits[r] - nextMax), c), 0);
    sum += logits[r];
  }
  *runningMax = nextMax;
  *runningSum = sum;
  return keep;
}

// Online-softmax state of one tile of G query heads of one KV head, in scratch.
struct TileState {
  float* logits;      // [G][stride]
  float* runningMax;  // [G]
  float* runningSum;  // [G]
  float* keep;        // [G]
};

constexpr int32_t kTileExtra = 12;  // runningMax, runningSum, keep for up to 4 heads

inline int32_t logitStride(const Pool* pool) { return (pool->blockSize + 3) & ~3; }

TileState tileState(const Pool* pool, float* base) {
  const int32_t stride = logitStride(pool);
  float* max = base + 4 * static_cast<size_t>(stride);
  return TileState{base, max, max + 4, max + 8};
}

// One block of one KV head for a tile of G query heads: logits, online softmax, weighted values.
template <int G, class KR, class VR>
void attendBlock(const Pool* pool, int32_t rows, const float* queries, float* out, const TileState& s, const ExpConstants& c,
                 const KR& keys, const VR& values) {
  const int32_t d = pool->headDim, stride = logitStride(pool);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  logitsForGroup<G>(queries, keys, rows, d, scale, s.logits, stride);
  for (int g = 0; g < G; g++) s.keep[g] = onlineSoftmax(s.logits + g * stride, rows, &s.runningMax[g], &s.runningSum[g], c);
  accumulateGroup<G>(out, s.keep, s.logits, stride, values, rows, d);
}

// The heads of a group that lane tiles do not cover (group % 4: tiles of 2, then 1), from `first` on.
template <class KR, class VR>
void attendBlockTiles(const Pool* pool, int32_t rows, int32_t first, int32_t group, const float* queries, float* out,
                      float* states, const ExpConstants& c, const KR& keys, const VR& values) {
  const int32_t d = pool->headDim;
  const size_t stateFloats = 4 * static_cast<size_t>(logitStride(pool)) + kTileExtra;
  int32_t g = first;
  for (; g + 2 <= group; g += 2, states += stateFloats) {
    attendBlock<2>(pool, rows, queries + static_cast<size_t>(g) * d, out + static_cast<size_t>(g) * d, tileState(pool, states), c, keys, values);
  }
  for (; g < group; g++, states += stateFloats) {
    attendBlock<1>(pool, rows, queries + static_cast<size_t>(g) * d, out + static_cast<size_t>(g) * d, tileState(pool, states), c, keys, values);
  }
}

// ---- Heads in lanes: tiles of 4 query heads (groups of 4, 8, ...) ----
// One query head per lane: the logits of one K row for the tile's 4 heads form one vector, so the
// online softmax (running max and sum, every exponential) runs 4 heads at once, and one 16-byte slot
// holds a V row's weights for the 4 heads. The queries are interleaved once per KV head
// ([d / 4][4 heads][4]), so the logit loop reads a K vector and the 4 heads' query vectors from
// pointers at constant offsets.

struct LaneTile {
  float* packed;   // [d / 4][4][4] queries
  float* weights;  // [blockSize][4]: one block's logits, then its softmax weights
  float* state;    // running max [4], running sum [4]
};

inline size_t lanePackedFloats(const Pool* pool) { return 16 * static_cast<size_t>(pool->headDim / 4); }
inline size_t laneTileFloats(const Pool* pool) { return lanePackedFloats(pool) + 4 * static_cast<size_t>(pool->blockSize) + 8; }

LaneTile laneTile(const Pool* pool, float* base) {
  const size_t packedFloats = lanePackedFloats(pool);
  return LaneTile{base, base + packedFloats, base + packedFloats + 4 * static_cast<size_t>(pool->blockSize)};
}

// Interleaves 4 query heads [4][d] into packed [d / 4][4][4] and resets the tile's softmax state.
void laneStart(const float* queries, int32_t d, const LaneTile& t) {
  for (int32_t s = 0; s < d / 4; s++) {
    for (int g = 0; g < 4; g++) std::memcpy(t.packed + 16 * static_cast<size_t>(s) + 4 * g, queries + static_cast<size_t>(g) * d + 4 * s, 4 * sizeof(float));
  }
  store(t.state, splat(-INFINITY));
  store(t.state + 4, zero());
}

// R rows' logits for the tile's 4 heads, scaled, into weights[r][g].
template <int R, class KR>
inline void laneLogits(const float* packed, const float* queries, const KR& keys, int32_t d, F4 scale, float* weights) {
  F4 acc[R][4];
  for (int r = 0; r < R; r++)
    for (int g = 0; g < 4; g++) acc[r][g] = zero();
  const float* q = packed;
  const int32_t steps = d / 4;
  for (int32_t s = 0; s < steps; s++) {
    F4 kv[R];
    for (int r = 0; r < R; r++) kv[r] = keys.load4(r, 4 * s);
    for (int g = 0; g < 4; g++) {
      const F4 qv = load(q + 4 * g);
      for (int r = 0; r < R; r++) acc[r][g] = madd(qv, kv[r], acc[r][g]);
    }
    q += 16;
  }
  for (int r = 0; r < R; r++) {
    // Lane g: (l0 + l1) + (l2 + l3) of head g's accumulator, then the d % 4 trailing products in order.
    F4 logits = hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
    if (d % 4 != 0) {
      float lanes[4];
      store(lanes, logits);
      for (int g = 0; g < 4; g++) {
        for (int32_t j = 4 * steps; j < d; j++) lanes[g] += queries[static_cast<size_t>(g) * d + j] * keys.at(r, j);
      }
      logits = load(lanes);
    }
    store(weights + 4 * r, mul(logits, scale));
  }
}

// out[g] = out[g] * keep[g] + sum_r weights[r][g] v_r for the tile's 4 heads: strips of 8 floats, each
// V vector loaded once for the 4 heads.
template <class VR>
inline void laneAccumulate(float* out, F4 keep, const float* weights, const VR& values, int32_t rows, int32_t d) {
  float keeps[4];
  store(keeps, keep);
  int32_t i = 0;
  for (; i + 8 <= d; i += 8) {
    F4 a[4][2];
    for (int g = 0; g < 4; g++) {
      const F4 k = splat(keeps[g]);
      a[g][0] = mul(load(out + static_cast<size_t>(g) * d + i), k);
      a[g][1] = mul(load(out + static_cast<size_t>(g) * d + i + 4), k);
    }
    const float* w = weights;
    for (int32_t r = 0; r < rows; r++, w += 4) {
      const F4 v0 = values.load4(r, i), v1 = values.load4(r, i + 4);
      for (int g = 0; g < 4; g++) {
        const F4 wg = loadSplat(w + g);
        a[g][0] = madd(wg, v0, a[g][0]);
        a[g][1] = madd(wg, v1, a[g][1]);
      }
    }
    for (int g = 0; g < 4; g++) {
      store(out + static_cast<size_t>(g) * d + i, a[g][0]);
      store(out + static_cast<size_t>(g) * d + i + 4, a[g][1]);
    }
  }
  if (i + 4 <= d) {
    F4 a[4];
    for (int g = 0; g < 4; g++) a[g] = mul(load(out + static_cast<size_t>(g) * d + i), splat(keeps[g]));
    for (int32_t r = 0; r < rows; r++) {
      const F4 v0 = values.load4(r, i);
      for (int g = 0; g < 4; g++) a[g] = madd(loadSplat(weights + 4 * r + g), v0, a[g]);
    }
    for (int g = 0; g < 4; g++) store(out + static_cast<size_t>(g) * d + i, a[g]);
    i += 4;
  }
  for (; i < d; i++) {
    for (int g = 0; g < 4; g++) {
      float acc = out[static_cast<size_t>(g) * d + i] * keeps[g];
      for (int32_t r = 0; r < rows; r++) acc += weights[4 * r + g] * values.at(r, i);
      out[static_cast<size_t>(g) * d + i] = acc;
    }
  }
}

// One block of one KV head for a lane tile: logits, online softmax (4 heads at once), weighted values.
template <class KR, class VR>
__attribute__((noinline)) void laneBlock(const Pool* pool, int32_t rows, const float* queries, float* out, const LaneTile& t,
                                         const ExpConstants& c, const KR& keys, const VR& values) {
  const int32_t d = pool->headDim;
  const F4 scale = splat(1.0f / std::sqrt(static_cast<float>(d)));
  int32_t r = 0;
  for (; r + 2 <= rows; r += 2) laneLogits<2>(t.packed, queries, keys.skip(r), d, scale, t.weights + 4 * r);
  if (r < rows) laneLogits<1>(t.packed, queries, keys.skip(r), d, scale, t.weights + 4 * r);
  F4 blockMax = load(t.weights);
  for (r = 1; r < rows; r++) blockMax = max(blockMax, load(t.weights + 4 * r));
  const F4 runningMax = load(t.state);
  const F4 nextMax = max(runningMax, blockMax);
  // e^(-inf) is 0: the first block keeps nothing of the (empty) accumulators.
  const F4 keep = simd::exp(sub(runningMax, nextMax), c);
  F4 sum = zero();
  for (r = 0; r < rows; r++) {
    const F4 w = simd::exp(sub(load(t.weights + 4 * r), nextMax), c);
    store(t.weights + 4 * r, w);
    sum = add(sum, w);
  }
  store(t.state, nextMax);
  store(t.state + 4, madd(load(t.state + 4), keep, sum));
  laneAccumulate(out, keep, t.weights, values, rows, d);
}

int32_t tilesPerHead(int32_t group) { return group / 4 + (group % 4) / 2 + (group % 2); }

// The rows of block b of `head` read (f32: its first `length` rows, not the tail of a partly filled
// block; other formats: the whole block, scales included; a residual is in cache already).
inline void touchBlock(const Pool* pool, const HeadList& head, int32_t length, size_t b, F4* sink) {
  Pool* mutablePool = const_cast<Pool*>(pool);
  if (head.format != kFormatF32) {
    if (head.residualBlock(b)) return;
    const float* base = pool->blockBase[head.blocks[b]];
    touchLines(base, base + pool->blockBytes(head.format) / sizeof(float), sink);
    return;
  }
  int32_t rows = length - static_cast<int32_t>(b) * pool->blockSize;
  if (rows > pool->blockSize) rows = pool->blockSize;
  touchLines(mutablePool->keyRow(head.blocks[b], 0), mutablePool->valueRow(head.blocks[b], rows), sink);
}

// Floats an int8/int4 block's scales take as f32 (key scales, then value scales); 0 for other formats.
inline size_t scaleFloats(const Pool* pool, int32_t format) {
  const size_t d = static_cast<size_t>(pool->headDim), B = static_cast<size_t>(pool->blockSize);
  if (format == kFormatInt8) return d + B;
  if (format == kFormatInt4) return d + B * static_cast<size_t>(int4Groups(pool->headDim));
  return 0;
}

// Calls fn(keys, values) with the readers of block b of `head` in the head's format (f32 for a residual).
// int8/int4 blocks store binary16 scales: they are widened once per block into `scales`
// (scaleFloats(pool, format) floats), so the readers' inner loops multiply by f32 scales.
template <class Fn>
inline void withBlockReaders(const Pool* pool, const HeadList& head, size_t b, const ReaderConstants& rc, float* scales, Fn&& fn) {
  const int32_t d = pool->headDim;
  if (head.format == kFormatF32 || head.residualBlock(b)) {
    const float* base = head.residualBlock(b) ? head.residual : pool->blockBase[head.blocks[b]];
    fn(F32Rows{base, d}, F32Rows{base + static_cast<size_t>(pool->blockSize) * d, d});
    return;
  }
  const unsigned char* base = pool->blockBytesAt(head.blocks[b]);
  const BlockLayout& l = pool->layout(head.format);
  if (head.format == kFormatF16) {
    fn(F16Rows{reinterpret_cast<const uint16_t*>(base + l.keys), d, &rc},
       F16Rows{reinterpret_cast<const uint16_t*>(base + l.values), d, &rc});
    return;
  }
  // key scales at 0, value scales right after them (kv_format.h): one run of halves
  const int32_t count = static_cast<int32_t>(scaleFloats(pool, head.format));
  const F16Rows stored{reinterpret_cast<const uint16_t*>(base + l.keyScales), count, &rc};
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) store(scales + i, stored.load4(0, i));
  for (; i < count; i++) scales[i] = stored.at(0, i);
  const float* keyScales = scales;
  const float* valueScales = scales + d;
  if (head.format == kFormatInt8) {
    fn(Int8ChannelRows{reinterpret_cast<const int8_t*>(base + l.keys), keyScales, d, &rc},
       Int8RowRows{reinterpret_cast<const int8_t*>(base + l.values), valueScales, d, &rc});
  } else {
    fn(Int4ChannelRows{base + l.keys, keyScales, d, &rc}, Int4GroupRows{base + l.values, valueScales, d, &rc});
  }
}

}  // namespace

size_t attendScratchFloats(const Pool* pool, int32_t group, int32_t heads) {
  (void)heads;  // heads are done one after another, reusing one head's state
  return static_cast<size_t>(group / 4) * laneTileFloats(pool) +
         static_cast<size_t>(tilesPerHead(group % 4)) * (4 * static_cast<size_t>(logitStride(pool)) + kTileExtra) + 8 +
         scaleFloats(pool, kFormatInt4);  // the most any head's blocks need
}

void attendHeads(const Pool* pool, const HeadList* const* heads, int32_t count, int32_t group, const float* queries,
                 float* out, float* scratch, const int32_t* lengths) {
  const int32_t d = pool->headDim;
  const size_t groupFloats = static_cast<size_t>(group) * d;
  const int32_t laneTiles = group / 4, laneHeads = 4 * laneTiles;
  const int32_t tiles = tilesPerHead(group - laneHeads);
  const size_t stateFloats = 4 * static_cast<size_t>(logitStride(pool)) + kTileExtra;
  float* states = scratch + static_cast<size_t>(laneTiles) * laneTileFloats(pool);
  float* blockScales = states + static_cast<size_t>(tiles) * stateFloats + 8;  // after the sink's 4 (attendScratchFloats)
  F4 sink = zero();
  const ExpConstants c = expConstants();
  const ReaderConstants rc = readerConstants();
  // Head after head, each head's blocks in order; the next block is touched while the current one is
  // computed. (Walking block b of every head before block b + 1 read memory in address order but ran
  // slower here: the heads' queries and outputs then crowd the K/V out of the L1 cache.)
  for (int32_t h = 0; h < count; h++) {
    const HeadList& head = *heads[h];
    const int32_t length = lengths == nullptr ? head.length : lengths[h];
    const size_t blocks = (static_cast<size_t>(length) + pool->blockSize - 1) / pool->blockSize;
    const float* headQueries = queries + h * groupFloats;
    float* headOut = out + h * groupFloats;
    std::memset(headOut, 0, sizeof(float) * groupFloats);
    for (int32_t t = 0; t < laneTiles; t++) {
      laneStart(headQueries + static_cast<size_t>(4 * t) * d, d, laneTile(pool, scratch + t * laneTileFloats(pool)));
    }
    for (int32_t t = 0; t < tiles; t++) {
      const TileState s = tileState(pool, states + t * stateFloats);
      for (int g = 0; g < 4; g++) {
        s.runningMax[g] = -INFINITY;
        s.runningSum[g] = 0.0f;
      }
    }
    for (size_t b = 0; b < blocks; b++) {
      if (b + 1 < blocks) touchBlock(pool, head, length, b + 1, &sink);
      int32_t rows = length - static_cast<int32_t>(b) * pool->blockSize;
      if (rows > pool->blockSize) rows = pool->blockSize;
      withBlockReaders(pool, head, b, rc, blockScales, [&](const auto& keys, const auto& values) {
        for (int32_t t = 0; t < laneTiles; t++) {
          laneBlock(pool, rows, headQueries + static_cast<size_t>(4 * t) * d, headOut + static_cast<size_t>(4 * t) * d,
                    laneTile(pool, scratch + t * laneTileFloats(pool)), c, keys, values);
        }
        if (tiles > 0) attendBlockTiles(pool, rows, laneHeads, group, headQueries, headOut, states, c, keys, values);
      });
    }
    for (int32_t t = 0; t < laneTiles; t++) {
      const LaneTile lt = laneTile(pool, scratch + t * laneTileFloats(pool));
      for (int32_t g = 0; g < 4; g++) {
        if (lt.state[4 + g] == 0.0f) continue;
        const float inverse = 1.0f / lt.state[4 + g];
        float* o = headOut + static_cast<size_t>(4 * t + g) * d;
        for (int32_t i = 0; i < d; i++) o[i] *= inverse;
      }
    }
    for (int32_t t = 0, g0 = laneHeads; t < tiles; t++) {
      const int32_t size = group - g0 >= 2 ? 2 : 1;
      const TileState s = tileState(pool, states + t * stateFloats);
      for (int32_t g = 0; g < size; g++) {
        if (s.runningSum[g] == 0.0f) continue;
        const float inverse = 1.0f / s.runningSum[g];
        float* o = headOut + static_cast<size_t>(g0 + g) * d;
        for (int32_t i = 0; i < d; i++) o[i] *= inverse;
      }
      g0 += size;
    }
  }
  // The touched values feed a store nothing reads, so the loads cannot be optimised away.
  store(states + tiles * stateFloats, sink);
}

namespace {

struct LayerJob {
  const Pool* pool;
  const Sequence* sequence;
  int32_t layer;
  int32_t group;
  const float* queries;
  float* out;
};

void runLayer(void* context, int32_t begin, int32_t end, int32_t thread) {
  const LayerJob& job = *static_cast<const LayerJob*>(context);
  const size_t groupFloats = static_cast<size_t>(job.group) * job.pool->headDim;
  const HeadList* heads[64];
  while (begin < end) {
    const int32_t count = end - begin < 64 ? end - begin : 64;
    for (int32_t i = 0; i < count; i++) heads[i] = &job.sequence->heads[job.layer * job.sequence->kvHeads + begin + i];
    attendHeads(job.pool, heads, count, job.group, job.queries + begin * groupFloats, job.out + begin * groupFloats,
                engine::scratch(thread));
    begin += count;
  }
}

// Causal attention of a prompt's rows over the paged cache: task (row t, KV head h).
struct CausalJob {
  const Pool* pool;
  const Sequence* sequence;
  int32_t layer;
  int32_t group;
  int32_t start;
  const float* queries;
  float* out;
};

void runCausal(void* context, int32_t begin, int32_t end, int32_t thread) {
  const CausalJob& job = *static_cast<const CausalJob*>(context);
  const int32_t kvHeads = job.sequence->kvHeads;
  const size_t groupFloats = static_cast<size_t>(job.group) * job.pool->headDim;
  for (int32_t index = begin; index < end; index++) {
    const int32_t t = index / kvHeads, h = index % kvHeads;
    const HeadList* head = &job.sequence->heads[job.layer * kvHeads + h];
    const int32_t length = job.start + t + 1;  // row t sees the cache's rows 0 .. start + t
    const size_t offset = (static_cast<size_t>(t) * kvHeads + h) * groupFloats;
    attendHeads(job.pool, &head, 1, job.group, job.queries + offset, job.out + offset, engine::scratch(thread), &length);
  }
}

}  // namespace

Status attendCausal(Pool* pool, Sequence* sequence, int32_t layer, int32_t queryHeads, int32_t rows, int32_t start,
                    const float* queries, float* out) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (queryHeads <= 0 || queryHeads % sequence->kvHeads != 0 || rows <= 0 || start < 0) return kInvalidArgument;
  if (queries == nullptr || out == nullptr) return kInvalidArgument;
  if (static_cast<int64_t>(rows) * sequence->kvHeads > INT32_MAX) return kInvalidArgument;  // tasks are int32
  for (int32_t h = 0; h < sequence->kvHeads; h++) {
    if (static_cast<int64_t>(sequence->head(layer, h).length) < static_cast<int64_t>(start) + rows) return kInvalidArgument;
  }
  const int32_t group = queryHeads / sequence->kvHeads;
  const Status status = engine::reserveScratch(attendScratchFloats(pool, group, 1));
  if (status != kOk) return status;
  CausalJob job{pool, sequence, layer, group, start, queries, out};
  return engine::parallelFor(rows * sequence->kvHeads, runCausal, &job);
}

Status attendLayer(Pool* pool, Sequence* sequence, int32_t layer, int32_t queryHeads, const float* queries,
                   float* out) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (queryHeads <= 0 || queryHeads % sequence->kvHeads != 0) return kInvalidArgument;
  if (queries == nullptr || out == nullptr) return kInvalidArgument;
  const int32_t group = queryHeads / sequence->kvHeads;
  const int32_t heads = sequence->kvHeads < 64 ? sequence->kvHeads : 64;
  const Status status = engine::reserveScratch(attendScratchFloats(pool, group, heads));
  if (status != kOk) return status;
  // KV heads spread over the engine's threads (one thread in the single-thread builds).
  LayerJob job{pool, sequence, layer, group, queries, out};
  return engine::parallelFor(sequence->kvHeads, runLayer, &job);
}

}  // namespace adakv
