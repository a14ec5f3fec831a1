#include "attention.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "vector_math.h"

namespace adakv {

namespace {

// One KV head and its G query heads: each block's logits first, then one rescale of the running sums
// per block rather than per row.
void attendHead(Pool* pool, const HeadList& head, int32_t group, const float* queries, float* out,
                float* logits, float* runningMax, float* runningSum) {
  const int32_t d = pool->headDim, blockSize = pool->blockSize;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::memset(out, 0, sizeof(float) * group * d);
  for (int32_t g = 0; g < group; g++) {
    runningMax[g] = -INFINITY;
    runningSum[g] = 0.0f;
  }
  for (size_t b = 0; b < head.blocks.size(); b++) {
    const int32_t block = head.blocks[b];
    int32_t rows = head.length - static_cast<int32_t>(b) * blockSize;
    if (rows > blockSize) rows = blockSize;
    const float* keys = pool->keyRow(block, 0);
    const float* values = pool->valueRow(block, 0);
    for (int32_t r = 0; r < rows; r++) {
      for (int32_t g = 0; g < group; g++) logits[g * blockSize + r] = dot(queries + g * d, keys + r * d, d) * scale;
    }
    for (int32_t g = 0; g < group; g++) {
      float* row = logits + g * blockSize;
      float blockMax = row[0];
      for (int32_t r = 1; r < rows; r++) blockMax = row[r] > blockMax ? row[r] : blockMax;
      const float nextMax = blockMax > runningMax[g] ? blockMax : runningMax[g];
      const float keep = runningMax[g] == -INFINITY ? 0.0f : std::exp(runningMax[g] - nextMax);
      float sum = runningSum[g] * keep;
      for (int32_t r = 0; r < rows; r++) {
        row[r] = std::exp(row[r] - nextMax);  // logits become weights in place
        sum += row[r];
      }
      accumulateRows(out + g * d, keep, row, values, rows, d);
      runningSum[g] = sum;
      runningMax[g] = nextMax;
    }
  }
  for (int32_t g = 0; g < group; g++) {
    if (runningSum[g] == 0.0f) continue;
    const float inverse = 1.0f / runningSum[g];
    for (int32_t i = 0; i < d; i++) out[g * d + i] *= inverse;
  }
}

}  // namespace

Status attendLayer(Pool* pool, Sequence* sequence, int32_t layer, int32_t queryHeads, const float* queries,
                   float* out) {
  if (layer < 0 || layer >= sequence->layers) return kOutOfRange;
  if (queryHeads <= 0 || queryHeads % sequence->kvHeads != 0) return kInvalidArgument;
  if (queries == nullptr || out == nullptr) return kInvalidArgument;
  const int32_t group = queryHeads / sequence->kvHeads;
  const size_t scratchFloats = static_cast<size_t>(group) * (pool->blockSize + 2);
  float* scratch = static_cast<float*>(std::malloc(scratchFloats * sizeof(float)));
  if (scratch == nullptr) return kOutOfMemory;
  float* logits = scratch;
  float* runningMax = scratch + static_cast<size_t>(group) * pool->blockSize;
  float* runningSum = runningMax + group;
  const size_t groupFloats = static_cast<size_t>(group) * pool->headDim;
  for (int32_t h = 0; h < sequence->kvHeads; h++) {
    attendHead(pool, sequence->head(layer, h), group, queries + h * groupFloats, out + h * groupFloats, logits,
               runningMax, runningSum);
  }
  std::free(scratch);
  return kOk;
}

}  // namespace adakv
