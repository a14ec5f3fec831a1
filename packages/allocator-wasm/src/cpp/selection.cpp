#include "selection.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine/simd.h"
#include "grow_array.h"
#include "radix_select.h"

namespace adakv {

namespace {

// Larger score -> smaller key, so ascending keys list scores from highest to lowest. +0 and -0 map to
// the same key so they tie (and fall back to the index) as they do in JS comparisons.
uint32_t descendingScoreKey(float score) {
  const float normalized = score + 0.0f;
  uint32_t bits;
  std::memcpy(&bits, &normalized, sizeof bits);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return ~ascending;
}

}  // namespace

double roundHalfEven(double value) {
  const double floor = std::floor(value);
  const double fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return std::fmod(floor, 2.0) == 0.0 ? floor : floor + 1;
}

namespace {

constexpr int kTopShift = 21;  // the first radix digit: the top 11 bits of a key
constexpr size_t kBuckets = 2048;

// Reused across calls (selection runs on the calling thread only): keys, per-head histograms of the
// top digit, and the candidates of one bucket with their flat positions.
GrowArray<uint32_t> keyBuffer;
GrowArray<uint32_t> histogramBuffer;
GrowArray<uint32_t> candidateBuffer;
GrowArray<uint32_t> radixScratch;
GrowArray<int32_t> positionBuffer;

// The bucket holding the k-th smallest key (k >= 1) and how many keys lie in lower buckets.
inline uint32_t findBucket(const uint32_t* histogram, size_t k, size_t* below) {
  size_t total = 0;
  uint32_t bucket = 0;
  while (total + histogram[bucket] < k) total += histogram[bucket++];
  *below = total;
  return bucket;
}

// Keys of `bucket` (top digit) among keys[0, count), in order, into candidates (and their indices into
// positions when given). Four keys per step; most steps find none and write nothing.
size_t collectBucket(const uint32_t* keys, size_t count, uint32_t bucket, uint32_t* candidates, int32_t* positions) {
  using namespace simd;
  const I4 wanted = i32splat(static_cast<int32_t>(bucket));
  size_t found = 0, i = 0;
  for (; i + 4 <= count; i += 4) {
    int32_t mask = laneMask(i32eq(u32shr(loadU32(keys + i), kTopShift), wanted));
    while (mask != 0) {
      const int lane = __builtin_ctz(static_cast<uint32_t>(mask));
      candidates[found] = keys[i + lane];
      if (positions != nullptr) positions[found] = static_cast<int32_t>(i + lane);
      found++;
      mask &= mask - 1;
    }
  }
  for (; i < count; i++) {
    if ((keys[i] >> kTopShift) != bucket) continue;
    candidates[found] = keys[i];
    if (positions != nullptr) positions[found] = static_cast<int32_t>(i);
    found++;
  }
  return found;
}

// Writes the indices of the selected keys, in order: below the threshold key, or equal to it among the
// first equalTaken such keys. Four keys per step; steps with no key at or below the threshold write
// nothing.
void emitKept(const uint32_t* keys, size_t count, const Threshold& threshold, int32_t* out) {
  using namespace simd;
  const I4 limit = i32splat(static_cast<int32_t>(threshold.key));
  size_t equalSeen = 0, kept = 0, i = 0;
  for (; i + 4 <= count; i += 4) {
    const I4 k = loadU32(keys + i);
    int32_t mask = laneMask(bitsOr(u32lessThan(k, limit), i32eq(k, limit)));
    while (mask != 0) {
      const int lane = __builtin_ctz(static_cast<uint32_t>(mask));
      mask &= mask - 1;
      if (keys[i + lane] == threshold.key && equalSeen++ >= threshold.equalTaken) continue;
      out[kept++] = static_cast<int32_t>(i + lane);
    }
  }
  for (; i < count; i++) {
    const uint32_t key = keys[i];
    if (key < threshold.key || (key == threshold.key && equalSeen++ < threshold.equalTaken)) out[kept++] = static_cast<int32_t>(i);
  }
}

}  // namespace

// Passes over the scores: one computes every key (and checks finiteness) and the top-digit histogram
// of each head; the global top-heads x selectable is found from the summed histograms, refined by a
// radix select over the one bucket that holds the threshold (collected by a second pass, in flat order
// so ties resolve by position); each head's cap then comes from its own histogram, its own bucket's
// candidates (a third pass) and a last pass that writes the kept indices in token order. Branch-free
// inner loops; no sort.
int32_t selectAdaptive(const float* scores, int32_t heads, int32_t prefixLength, int32_t selectable, double alpha,
                       int32_t* caps, int32_t* keptIndices) {
  if (heads <= 0 || prefixLength < 0 || selectable < 0) return kInvalidArgument;
  if (!(alpha >= 0.0 && alpha <= 1.0)) return kInvalidArgument;
  const uint64_t entries = static_cast<uint64_t>(heads) * static_cast<uint64_t>(prefixLength);
  if (entries > INT32_MAX) return kInvalidArgument;
  if (caps == nullptr || (entries > 0 && (scores == nullptr || keptIndices == nullptr))) return kInvalidArgument;
  const size_t size = static_cast<size_t>(entries);
  const size_t length = static_cast<size_t>(prefixLength);
  if (!keyBuffer.resize(size, 0) || !histogramBuffer.resize(static_cast<size_t>(heads) * kBuckets, 0) ||
      !candidateBuffer.resize(size, 0) || !radixScratch.resize(size, 0) || !positionBuffer.resize(size, 0)) {
    return kOutOfMemory;
  }
  uint32_t* keys = keyBuffer.data();
  uint32_t* histograms = histogramBuffer.data();
  // Keys 4 at a time (-0 becomes +0 by adding zero; non-finite scores flagged), then the top-digit
  // histogram of each head in four interleaved copies, so repeated buckets do not serialise on one
  // counter; the copies are summed after each head.
  using namespace simd;
  I4 nonFinite = i32zero();
  const I4 exponent = opaque(i32splat(0x7f800000));
  const I4 magnitude = opaque(i32splat(0x7fffffff));
  uint32_t partial[4][kBuckets];
  for (int32_t h = 0; h < heads; h++) {
    const float* row = scores + h * length;
    uint32_t* rowKeys = keys + h * length;
    size_t t = 0;
    for (; t + 4 <= length; t += 4) {
      const I4 bits = asInt(add(load(row + t), zero()));
      nonFinite = bitsOr(nonFinite, i32eq(bitsAnd(bits, exponent), exponent));
      storeU32(rowKeys + t, bitsXor(bits, bitsAndNot(magnitude, i32shrSigned(bits, 31))));
    }
    for (; t < length; t++) {
      uint32_t bits;
      std::memcpy(&bits, &row[t], sizeof bits);
      nonFinite = bitsOr(nonFinite, i32splat((bits & 0x7f800000u) == 0x7f800000u ? -1 : 0));
      rowKeys[t] = descendingScoreKey(row[t]);
    }
    std::memset(partial, 0, sizeof partial);
    t = 0;
    for (; t + 4 <= length; t += 4) {
      partial[0][rowKeys[t] >> kTopShift]++;
      partial[1][rowKeys[t + 1] >> kTopShift]++;
      partial[2][rowKeys[t + 2] >> kTopShift]++;
      partial[3][rowKeys[t + 3] >> kTopShift]++;
    }
    for (; t < length; t++) partial[0][rowKeys[t] >> kTopShift]++;
    uint32_t* histogram = histograms + static_cast<size_t>(h) * kBuckets;
    for (size_t b = 0; b < kBuckets; b++) histogram[b] = (partial[0][b] + partial[1][b]) + (partial[2][b] + partial[3][b]);
  }
  if (laneMask(nonFinite) != 0) return kInvalidNumber;
  if (selectable >= prefixLength) {
    for (int32_t h = 0; h < heads; h++) {
      caps[h] = prefixLength;
      for (size_t t = 0; t < length; t++) keptIndices[h * length + t] = static_cast<int32_t>(t);
    }
    return static_cast<int32_t>(entries);
  }
  uint32_t* candidates = candidateBuffer.data();
  int32_t* positions = positionBuffer.data();

  // Across heads, in flat order h * prefixLength + t: ties prefer the lower head, then the lower token.
  for (int32_t h = 0; h < heads; h++) caps[h] = 0;
  const size_t total = static_cast<size_t>(heads) * static_cast<size_t>(selectable);
  if (total > 0) {
    uint32_t global[kBuckets];
    for (size_t b = 0; b < kBuckets; b++) {
      uint32_t sum = 0;
      for (int32_t h = 0; h < heads; h++) sum += histograms[static_cast<size_t>(h) * kBuckets + b];
      global[b] = sum;
    }
    size_t below = 0;
    const uint32_t bucket = findBucket(global, total, &below);
    for (int32_t h = 0; h < heads; h++) {
      uint32_t lower = 0;
      for (uint32_t b = 0; b < bucket; b++) lower += histograms[static_cast<size_t>(h) * kBuckets + b];
      caps[h] = static_cast<int32_t>(lower);
    }
    const size_t count = collectBucket(keys, size, bucket, candidates, positions);
    const Threshold threshold = radixThreshold(candidates, count, total - below, radixScratch.data());
    size_t equalSeen = 0;
    for (size_t j = 0; j < count; j++) {
      if (selected(threshold, candidates[j], equalSeen)) caps[static_cast<size_t>(positions[j]) / length]++;
    }
  }
  const double floorShare = std::floor(static_cast<double>(selectable) * alpha);
  for (int32_t h = 0; h < heads; h++) {
    const double cap = roundHalfEven(static_cast<double>(caps[h]) * (1.0 - alpha) + floorShare);
    caps[h] = static_cast<int32_t>(std::min(cap, static_cast<double>(prefixLength)));
  }

  // Each head's own top cap_h, written by one scan in token order (so already ascending).
  int32_t written = 0;
  for (int32_t h = 0; h < heads; h++) {
    const size_t cap = static_cast<size_t>(caps[h]);
    if (cap == 0) continue;
    int32_t* out = keptIndices + written;
    written += caps[h];
    if (cap == length) {
      for (size_t t = 0; t < length; t++) out[t] = static_cast<int32_t>(t);
      continue;
    }
    const uint32_t* row = keys + static_cast<size_t>(h) * length;
    size_t below = 0;
    const uint32_t bucket = findBucket(histograms + static_cast<size_t>(h) * kBuckets, cap, &below);
    const size_t count = collectBucket(row, length, bucket, candidates, nullptr);
    const Threshold threshold = radixThreshold(candidates, count, cap - below, radixScratch.data());
    emitKept(row, length, threshold, out);
  }
  return written;
}

}  // namespace adakv
