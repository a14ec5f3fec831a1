#include "attention.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

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
template <int G, int R>
inline void logitTile(const float* queries, const float* keys, int32_t d, float scale, float* logits,
                      int32_t stride) {
  F4 acc[G][R];
  for (int g = 0; g < G; g++)
    for (int r = 0; r < R; r++) acc[g][r] = zero();
  int32_t i = 0;
  for (; i + 4 <= d; i += 4) {
    F4 k[R];
    for (int r = 0; r < R; r++) k[r] = load(keys + static_cast<size_t>(r) * d + i);
    for (int g = 0; g < G; g++) {
      const F4 q = load(queries + static_cast<size_t>(g) * d + i);
      for (int r = 0; r < R; r++) acc[g][r] = madd(q, k[r], acc[g][r]);
    }
  }
  for (int g = 0; g < G; g++) {
    for (int r = 0; r < R; r++) {
      float total = hsum(acc[g][r]);
      for (int32_t j = i; j < d; j++) total += queries[static_cast<size_t>(g) * d + j] * keys[static_cast<size_t>(r) * d + j];
      logits[g * stride + r] = total * scale;
    }
  }
}

// One block's logits for G heads.
template <int G>
void logitsForGroup(const float* queries, const float* keys, int32_t rows, int32_t d, float scale, float* logits,
                    int32_t stride) {
  constexpr int R = G >= 4 ? 2 : 4;
  int32_t r = 0;
  for (; r + R <= rows; r += R) logitTile<G, R>(queries, keys + static_cast<size_t>(r) * d, d, scale, logits + r, stride);
  for (; r < rows; r++) logitTile<G, 1>(queries, keys + static_cast<size_t>(r) * d, d, scale, logits + r, stride);
}

// out[g] = out[g] * keep[g] + sum_r weights[g][r] v_r, two heads at a time over 16-float strips of d:
// each V vector is loaded once per pair of heads.
template <int G>
void accumulatePair(float* out, const float* keep, const float* weights, int32_t stride, const float* values,
                    int32_t rows, int32_t d) {
  int32_t i = 0;
  for (; i + 16 <= d; i += 16) {
    F4 a[G][4];
    for (int g = 0; g < G; g++) {
      const F4 k = splat(keep[g]);
      for (int c = 0; c < 4; c++) a[g][c] = mul(load(out + static_cast<size_t>(g) * d + i + 4 * c), k);
    }
    for (int32_t r = 0; r < rows; r++) {
      const float* v = values + static_cast<size_t>(r) * d + i;
      F4 vv[4];
      for (int c = 0; c < 4; c++) vv[c] = load(v + 4 * c);
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
      const F4 v = load(values + static_cast<size_t>(r) * d + i);
      for (int g = 0; g < G; g++) a[g] = madd(loadSplat(weights + g * stride + r), v, a[g]);
    }
    for (int g = 0; g < G; g++) store(out + static_cast<size_t>(g) * d + i, a[g]);
  }
  for (; i < d; i++) {
    for (int g = 0; g < G; g++) {
      float acc = out[static_cast<size_t>(g) * d + i] * keep[g];
      for (int32_t r = 0; r < rows; r++) acc += weights[g * stride + r] * values[static_cast<size_t>(r) * d + i];
      out[static_cast<size_t>(g) * d + i] = acc;
    }
  }
}

template <int G>
void accumulateGroup(float* out, const float* keep, const float* weights, int32_t stride, const float* values,
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
template <int G>
void attendBlock(const Pool* pool, const HeadList& head, size_t b, const float* queries, float* out, const TileState& s,
                 const ExpConstants& c) {
  const int32_t d = pool->headDim, blockSize = pool->blockSize, stride = logitStride(pool);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  Pool* mutablePool = const_cast<Pool*>(pool);
  const int32_t block = head.blocks[b];
  int32_t rows = head.length - static_cast<int32_t>(b) * blockSize;
  if (rows > blockSize) rows = blockSize;
  logitsForGroup<G>(queries, mutablePool->keyRow(block, 0), rows, d, scale, s.logits, stride);
  for (int g = 0; g < G; g++) s.keep[g] = onlineSoftmax(s.logits + g * stride, rows, &s.runningMax[g], &s.runningSum[g], c);
  accumulateGroup<G>(out, s.keep, s.logits, stride, mutablePool->valueRow(block, 0), rows, d);
}

void attendBlockTiles(const Pool* pool, const HeadList& head, size_t b, int32_t group, const float* queries, float* out,
                      float* states, const ExpConstants& c) {
  const int32_t d = pool->headDim;
  const size_t stateFloats = 4 * static_cast<size_t>(logitStride(pool)) + kTileExtra;
  int32_t g = 0;
  for (; g + 4 <= group; g += 4, states += stateFloats) {
    attendBlock<4>(pool, head, b, queries + static_cast<size_t>(g) * d, out + static_cast<size_t>(g) * d, tileState(pool, states), c);
  }
  for (; g + 2 <= group; g += 2, states += stateFloats) {
    attendBlock<2>(pool, head, b, queries + static_cast<size_t>(g) * d, out + static_cast<size_t>(g) * d, tileState(pool, states), c);
  }
  for (; g < group; g++, states += stateFloats) {
    attendBlock<1>(pool, head, b, queries + static_cast<size_t>(g) * d, out + static_cast<size_t>(g) * d, tileState(pool, states), c);
  }
}

int32_t tilesPerHead(int32_t group) { return group / 4 + (group % 4) / 2 + (group % 2); }

// The rows of block b of `head` (all but the tail of a partly filled last block).
inline void touchBlock(const Pool* pool, const HeadList& head, size_t b, F4* sink) {
  Pool* mutablePool = const_cast<Pool*>(pool);
  int32_t rows = head.length - static_cast<int32_t>(b) * pool->blockSize;
  if (rows > pool->blockSize) rows = pool->blockSize;
  touchLines(mutablePool->keyRow(head.blocks[b], 0), mutablePool->valueRow(head.blocks[b], rows), sink);
}

}  // namespace

size_t attendScratchFloats(const Pool* pool, int32_t group, int32_t heads) {
  (void)heads;  // heads are done one after another, reusing one head's state
  return static_cast<size_t>(tilesPerHead(group)) * (4 * static_cast<size_t>(logitStride(pool)) + kTileExtra) + 8;
}

void attendHeads(const Pool* pool, const HeadList* const* heads, int32_t count, int32_t group, const float* queries,
                 float* out, float* scratch) {
  const int32_t d = pool->headDim;
  const size_t groupFloats = static_cast<size_t>(group) * d;
  const int32_t tiles = tilesPerHead(group);
  const size_t stateFloats = 4 * static_cast<size_t>(logitStride(pool)) + kTileExtra;
  F4 sink = zero();
  const ExpConstants c = expConstants();
  // Head after head, each head's blocks in order; the next block is touched while the current one is
  // computed. (Walking block b of every head before block b + 1 read memory in address order but ran
  // slower here: the heads' queries and outputs then crowd the K/V out of the L1 cache.)
  for (int32_t h = 0; h < count; h++) {
    const HeadList& head = *heads[h];
    float* headOut = out + h * groupFloats;
    std::memset(headOut, 0, sizeof(float) * groupFloats);
    for (int32_t t = 0; t < tiles; t++) {
      const TileState s = tileState(pool, scratch + t * stateFloats);
      for (int g = 0; g < 4; g++) {
        s.runningMax[g] = -INFINITY;
        s.runningSum[g] = 0.0f;
      }
    }
    for (size_t b = 0; b < head.blocks.size(); b++) {
      if (b + 1 < head.blocks.size()) touchBlock(pool, head, b + 1, &sink);
      attendBlockTiles(pool, head, b, group, queries + h * groupFloats, headOut, scratch, c);
    }
    for (int32_t t = 0, g0 = 0; t < tiles; t++) {
      const int32_t size = group - g0 >= 4 ? 4 : (group - g0 >= 2 ? 2 : 1);
      const TileState s = tileState(pool, scratch + t * stateFloats);
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
  store(scratch + tiles * stateFloats, sink);
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

}  // namespace

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
