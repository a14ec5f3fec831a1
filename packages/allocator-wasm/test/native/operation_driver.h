// Drives one pool through an operation sequence decoded from bytes — add/remove sequences, appends,
// compactions (valid and corrupted), attention, selection, bad handles, flattening — and after every
// step compares the pool with a plain shadow model. Any broken invariant aborts with a message, which
// is what the sanitizer test and the libFuzzer target both want.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../../src/cpp/adakv.h"
#include "../../src/cpp/kv_format.h"
#include "../../src/cpp/status.h"
#include "byte_source.h"
#include "reference_math.h"
#include "shadow_model.h"

#define REQUIRE(condition)                                                                       \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__);   \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

class OperationDriver {
 public:
  explicit OperationDriver(ByteSource& in) : in_(in) {}

  void run(int maxSteps) {
    if (!createPool()) return;
    for (int step = 0; step < maxSteps && !in_.empty(); step++) {
      switch (in_.byte() % 8) {
        case 0: addSequence(); break;
        case 1: removeSequence(); break;
        case 2: case 3: append(); break;
        case 4: compact(); break;
        case 5: attend(); break;
        case 6: select(); break;
        default: badReadsAndFlatten(); break;
      }
      verify();
    }
    REQUIRE(adakv_pool_destroy(pool_) == adakv::kOk);
    REQUIRE(adakv_pool_destroy(pool_) == adakv::kInvalidHandle);
    REQUIRE(adakv_sequence_add(pool_, 1, 1) == adakv::kInvalidHandle);
  }

 private:
  bool createPool() {
    headDim_ = 1 + static_cast<int32_t>(in_.below(9));
    const uint8_t shape = in_.byte();
    if (shape < 16) {
      const int32_t absurd[] = {0, -1, 1025, 1 << 30};
      REQUIRE(adakv_pool_create(headDim_, absurd[shape % 4], 1, 8) == adakv::kInvalidArgument);
      REQUIRE(adakv_pool_create(0, 4, 1, 8) == adakv::kInvalidArgument);
      REQUIRE(adakv_pool_create(headDim_, 4, 9, 8) == adakv::kInvalidArgument);
    }
    blockSize_ = 1 + shape % 8;
    maxBlocks_ = 1 + static_cast<int32_t>(in_.below(48));
    const int32_t initial = static_cast<int32_t>(in_.below(static_cast<uint32_t>(maxBlocks_) + 1));
    // Half the runs store f32 (exact values); the others f16, int8 or int4 (int4 needs an even head dim).
    const uint8_t format = in_.byte();
    format_ = format < 128 ? 0 : 1 + format % 3;
    if (format_ == 3 && headDim_ % 2 != 0) {
      REQUIRE(adakv_pool_create_format(headDim_, blockSize_, initial, maxBlocks_, 3) == adakv::kInvalidArgument);
      headDim_++;
    }
    REQUIRE(adakv_pool_create_format(headDim_, blockSize_, initial, maxBlocks_, 4) == adakv::kInvalidArgument);
    pool_ = format_ == 0 ? adakv_pool_create(headDim_, blockSize_, initial, maxBlocks_)
                         : adakv_pool_create_format(headDim_, blockSize_, initial, maxBlocks_, format_);
    REQUIRE(pool_ >= 0);
    return true;
  }

  ShadowSequence* pickSequence() {
    if (live_.empty()) return nullptr;
    return &live_[in_.below(static_cast<uint32_t>(live_.size()))];
  }

  void addSequence() {
    if (in_.byte() % 16 == 0) REQUIRE(adakv_sequence_add(pool_, 0, 1) == adakv::kInvalidArgument);
    const int32_t layers = 1 + static_cast<int32_t>(in_.below(3));
    const int32_t kvHeads = 1 + static_cast<int32_t>(in_.below(3));
    std::vector<int32_t> formats(static_cast<size_t>(layers) * kvHeads, format_);
    int32_t handle;
    if (in_.byte() % 2 == 0) {
      handle = adakv_sequence_add(pool_, layers, kvHeads);
    } else {  // each head in its own format, int4 only where the head dim is even
      for (int32_t& format : formats) format = static_cast<int32_t>(in_.below(headDim_ % 2 == 0 ? 4 : 3));
      mixed_ = mixed_ || std::any_of(formats.begin(), formats.end(), [&](int32_t f) { return f != format_; });
      std::vector<int32_t> bad = formats;
      bad[in_.below(static_cast<uint32_t>(bad.size()))] = headDim_ % 2 == 0 ? 4 : 3;
      REQUIRE(adakv_sequence_add_formats(pool_, layers, kvHeads, bad.data()) == adakv::kInvalidArgument);
      handle = adakv_sequence_add_formats(pool_, layers, kvHeads, formats.data());
    }
    REQUIRE(handle >= 0);
    for (int32_t i = 0; i < layers * kvHeads; i++) REQUIRE(adakv_head_format(pool_, handle, i / kvHeads, i % kvHeads) == formats[i]);
    live_.push_back({handle, layers, kvHeads, std::vector<std::vector<int32_t>>(layers * kvHeads), formats});
  }

  void removeSequence() {
    const uint8_t choice = in_.byte();
    if (live_.empty() || choice % 4 == 0) {
      const int32_t stale = dead_.empty() ? 0x7abc : dead_[choice % dead_.size()];
      REQUIRE(adakv_sequence_remove(pool_, stale) == adakv::kInvalidHandle);  // double free or garbage
      return;
    }
    const size_t index = choice % live_.size();
    REQUIRE(adakv_sequence_remove(pool_, live_[index].handle) == adakv::kOk);
    dead_.push_back(live_[index].handle);
    live_.erase(live_.begin() + static_cast<long>(index));
  }

  void append() {
    ShadowSequence* sequence = pickSequence();
    if (sequence == nullptr) return;
    const int32_t layer = static_cast<int32_t>(in_.below(static_cast<uint32_t>(sequence->layers) + 1));
    const int32_t tokens = static_cast<int32_t>(in_.below(24));
    std::vector<float> keys(static_cast<size_t>(tokens) * sequence->kvHeads * headDim_);
    std::vector<float> values(keys.size());
    std::vector<int32_t> positions(static_cast<size_t>(tokens));
    for (int32_t t = 0; t < tokens; t++) {
      positions[t] = nextPosition_++;
      for (int32_t h = 0; h < sequence->kvHeads; h++) {
        for (int32_t c = 0; c < headDim_; c++) {
          keys[(static_cast<size_t>(t) * sequence->kvHeads + h) * headDim_ + c] = keyValue(positions[t], h, c);
          values[(static_cast<size_t>(t) * sequence->kvHeads + h) * headDim_ + c] = valueValue(positions[t], h, c);
        }
      }
    }
    double stats[16];
    adakv_pool_stats(pool_, stats);
    const int64_t available = static_cast<int64_t>(stats[1]) + maxBlocks_ - static_cast<int64_t>(stats[0]);
    const int32_t status =
        adakv_append(pool_, sequence->handle, layer, tokens, keys.data(), values.data(), positions.data());
    if (layer == sequence->layers) {
      REQUIRE(status == adakv::kOutOfRange);
      return;
    }
    int64_t needed = 0;
    for (int32_t h = 0; h < sequence->kvHeads; h++) {
      const int64_t length = static_cast<int64_t>(sequence->head(layer, h).size());
      needed += blocks(length + tokens) - blocks(length);
    }
    // With one format the free blocks serve any head; with several, only their own format's heads: an
    // append needing fewer blocks than the room left to grow always fits, one needing more than room
    // and free together never does, and in between it depends on which formats are free.
    const int64_t room = maxBlocks_ - static_cast<int64_t>(stats[0]);
    const bool fits = mixed_ ? needed <= room : needed <= available;
    const bool exhausted = needed > available || (mixed_ && status == adakv::kPoolExhausted && !fits);
    if (exhausted) {
      REQUIRE(status == adakv::kPoolExhausted);
      return;
    }
    REQUIRE(status == adakv::kOk);
    for (int32_t h = 0; h < sequence->kvHeads; h++) {
      auto& rows = sequence->head(layer, h);
      rows.insert(rows.end(), positions.begin(), positions.end());
    }
  }

  void compact() {
    ShadowSequence* sequence = pickSequence();
    if (sequence == nullptr) return;
    const int32_t layer = static_cast<int32_t>(in_.below(static_cast<uint32_t>(sequence->layers)));
    std::vector<std::vector<int32_t>> kept(sequence->kvHeads);
    for (int32_t h = 0; h < sequence->kvHeads; h++) {
      const int32_t length = static_cast<int32_t>(sequence->head(layer, h).size());
      const uint8_t keepOdds = in_.byte();
      for (int32_t i = 0; i < length; i++) {
        if (in_.byte() <= keepOdds) kept[h].push_back(i);
      }
    }
    std::vector<std::vector<int32_t>> plan = kept;
    const uint8_t corruption = in_.byte() % 6;
    auto nonEmpty = std::find_if(plan.begin(), plan.end(), [](const std::vector<int32_t>& list) { return !list.empty(); });
    const bool corrupt = corruption < 3 && nonEmpty != plan.end();
    if (corrupt && corruption == 0) nonEmpty->push_back(nonEmpty->back());  // duplicate index
    if (corrupt && corruption == 1) nonEmpty->back() = 1 << 20;             // out of range
    std::vector<int32_t> counts, indices;
    for (const auto& list : plan) {
      counts.push_back(static_cast<int32_t>(list.size()));
      indices.insert(indices.end(), list.begin(), list.end());
    }
    if (corrupt && corruption == 2) counts[0] = -1;  // negative count
    const int32_t result = adakv_compact(pool_, sequence->handle, layer, counts.data(), indices.data());
    if (corrupt) {
      REQUIRE(result == adakv::kInvalidPlan);
      return;
    }
    REQUIRE(result >= 0);
    for (int32_t h = 0; h < sequence->kvHeads; h++) {
      auto& rows = sequence->head(layer, h);
      std::vector<int32_t> survivors;
      for (int32_t index : kept[h]) survivors.push_back(rows[index]);
      rows = survivors;
    }
  }

  void attend() {
    ShadowSequence* sequence = pickSequence();
    if (sequence == nullptr) return;
    const int32_t layer = static_cast<int32_t>(in_.below(static_cast<uint32_t>(sequence->layers)));
    const int32_t group = 1 + static_cast<int32_t>(in_.below(3));
    const int32_t queryHeads = group * sequence->kvHeads;
    std::vector<float> queries(static_cast<size_t>(queryHeads) * headDim_), out(queries.size());
    for (float& q : queries) q = static_cast<float>(static_cast<int>(in_.byte()) - 128) / 32.0f;
    if (sequence->kvHeads > 1) {
      REQUIRE(adakv_attend(pool_, sequence->handle, layer, queryHeads + 1, queries.data(), out.data()) ==
              adakv::kInvalidArgument);
    }
    REQUIRE(adakv_attend(pool_, sequence->handle, layer, queryHeads, queries.data(), out.data()) == adakv::kOk);
    for (int32_t q = 0; q < queryHeads; q++) {
      const int32_t head = q / group;
      std::vector<double> expected =
          sequence->format(layer, head) == 0 ? referenceAttention(&queries[static_cast<size_t>(q) * headDim_], sequence->head(layer, head), head, headDim_)
                       : storedAttention(&queries[static_cast<size_t>(q) * headDim_], sequence->handle, layer, head);
      for (int32_t c = 0; c < headDim_; c++) {
        REQUIRE(std::fabs(expected[c] - out[static_cast<size_t>(q) * headDim_ + c]) < 1e-4);
      }
    }
  }

  void select() {
    const int32_t heads = 1 + static_cast<int32_t>(in_.below(4));
    const int32_t prefix = static_cast<int32_t>(in_.below(14));
    const int32_t selectable = static_cast<int32_t>(in_.below(static_cast<uint32_t>(prefix) + 2));
    const double alphas[] = {0.0, 0.2, 0.5, 1.0, 0.25};
    const double alpha = alphas[in_.byte() % 5];
    std::vector<float> scores(static_cast<size_t>(heads) * prefix);
    for (float& s : scores) s = static_cast<float>(in_.byte() % 7) * 0.25f;  // few values: many ties
    std::vector<int32_t> caps(heads), kept(scores.size() + 1);
    const int32_t total = adakv_select_adaptive(scores.data(), heads, prefix, selectable, alpha, caps.data(), kept.data());
    ReferenceSelection expected = referenceSelect(scores, heads, prefix, selectable, alpha);
    REQUIRE(total == static_cast<int32_t>(expected.kept.size()));
    REQUIRE(caps == expected.caps);
    REQUIRE(std::equal(expected.kept.begin(), expected.kept.end(), kept.begin()));
    REQUIRE(adakv_select_adaptive(scores.data(), heads, prefix, selectable, 1.5, caps.data(), kept.data()) ==
            adakv::kInvalidArgument);
    if (!scores.empty()) {
      scores[0] = NAN;
      REQUIRE(adakv_select_adaptive(scores.data(), heads, prefix, selectable, alpha, caps.data(), kept.data()) ==
              adakv::kInvalidNumber);
    }
  }

  void badReadsAndFlatten() {
    float sink[4];
    REQUIRE(adakv_length(pool_, 0x7fff0000, 0, 0) == adakv::kInvalidHandle);
    ShadowSequence* sequence = pickSequence();
    if (sequence == nullptr) return;
    REQUIRE(adakv_length(pool_, sequence->handle, 0, sequence->kvHeads) == adakv::kOutOfRange);
    REQUIRE(adakv_length(pool_, sequence->handle, -1, 0) == adakv::kOutOfRange);
    REQUIRE(adakv_read_rows(pool_, sequence->handle, 0, 0, 7, sink) == adakv::kInvalidArgument);
    const int32_t layer = static_cast<int32_t>(in_.below(static_cast<uint32_t>(sequence->layers)));
    const int32_t blockCount = adakv_layer_blocks(pool_, sequence->handle, layer);
    REQUIRE(blockCount >= 0);
    std::vector<int32_t> cuSeqlens(sequence->kvHeads + 1), cuBlocks(sequence->kvHeads + 1), table(blockCount + 1);
    std::vector<uintptr_t> addresses(blockCount + 1);
    REQUIRE(adakv_flatten(pool_, sequence->handle, layer, cuSeqlens.data(), cuBlocks.data(), table.data(),
                          addresses.data()) == adakv::kOk);
    for (int32_t h = 0; h < sequence->kvHeads; h++) {
      const int64_t length = static_cast<int64_t>(sequence->head(layer, h).size());
      REQUIRE(cuSeqlens[h + 1] - cuSeqlens[h] == length);
      REQUIRE(cuBlocks[h + 1] - cuBlocks[h] == blocks(length));
    }
    REQUIRE(cuBlocks[sequence->kvHeads] == blockCount);
    std::vector<int32_t> sorted(table.begin(), table.begin() + blockCount);
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    if (sequence->format(layer, 0) == 0 && blockCount > 0 && sequence->head(layer, 0).size() > 0) {
      // The first block's first key row, read in place through its address.
      const float* row = reinterpret_cast<const float*>(addresses[0]);
      REQUIRE(row[0] == keyValue(sequence->head(layer, 0)[0], 0, 0));
    }
  }

  void verify() {
    REQUIRE(adakv_pool_check(pool_) == adakv::kOk);
    double stats[16];
    REQUIRE(adakv_pool_stats(pool_, stats) > 0);
    REQUIRE(stats[0] <= maxBlocks_);
    REQUIRE(stats[1] + stats[2] == stats[0]);
    int64_t rows = 0, used = 0;
    double blockBytes = 0;
    for (ShadowSequence& sequence : live_) {
      for (int32_t layer = 0; layer < sequence.layers; layer++) {
        for (int32_t h = 0; h < sequence.kvHeads; h++) {
          const std::vector<int32_t>& expected = sequence.head(layer, h);
          const int32_t length = adakv_length(pool_, sequence.handle, layer, h);
          REQUIRE(length == static_cast<int32_t>(expected.size()));
          rows += length;
          used += blocks(length);
          blockBytes += static_cast<double>(blocks(length)) * adakv::blockLayout(sequence.format(layer, h), blockSize_, headDim_).bytes;
          std::vector<int32_t> positions(expected.size() + 1);
          std::vector<float> keys(expected.size() * headDim_ + 1), values(keys.size());
          REQUIRE(adakv_read_positions(pool_, sequence.handle, layer, h, positions.data()) == length);
          REQUIRE(adakv_read_rows(pool_, sequence.handle, layer, h, 0, keys.data()) == length);
          REQUIRE(adakv_read_rows(pool_, sequence.handle, layer, h, 1, values.data()) == length);
          for (int32_t i = 0; i < length; i++) {
            REQUIRE(positions[i] == expected[i]);
            for (int32_t c = 0; c < headDim_; c++) {
              const float bound = tolerance(sequence.format(layer, h));
              REQUIRE(std::fabs(keys[static_cast<size_t>(i) * headDim_ + c] - keyValue(expected[i], h, c)) <= bound);
              REQUIRE(std::fabs(values[static_cast<size_t>(i) * headDim_ + c] - valueValue(expected[i], h, c)) <= bound);
            }
          }
        }
      }
    }
    REQUIRE(stats[2] == used);
    REQUIRE(stats[4] - stats[9] == blockBytes);  // held bytes: each block in its own format, then residuals
    REQUIRE(stats[5] == rows);
    REQUIRE(stats[6] == used * blockSize_ - rows);
  }

  std::vector<double> referenceAttention(const float* query, const std::vector<int32_t>& positions, int32_t head,
                                         int32_t headDim) {
    std::vector<double> logits;
    for (int32_t position : positions) {
      double dotProduct = 0;
      for (int32_t c = 0; c < headDim; c++) dotProduct += static_cast<double>(query[c]) * keyValue(position, head, c);
      logits.push_back(dotProduct / std::sqrt(static_cast<double>(headDim)));
    }
    return softmaxAverage(logits, positions, head, headDim);
  }

  // Softmax attention in f64 over the rows as the pool reads them back (decoded): the kernels must
  // read the encoded blocks and the residual exactly as decodeRow does.
  std::vector<double> storedAttention(const float* query, int32_t sequence, int32_t layer, int32_t head) {
    const int32_t length = adakv_length(pool_, sequence, layer, head);
    std::vector<float> keys(static_cast<size_t>(length) * headDim_ + 1), values(keys.size());
    REQUIRE(adakv_read_rows(pool_, sequence, layer, head, 0, keys.data()) == length);
    REQUIRE(adakv_read_rows(pool_, sequence, layer, head, 1, values.data()) == length);
    std::vector<double> logits(static_cast<size_t>(length)), out(static_cast<size_t>(headDim_), 0.0);
    double max = -INFINITY, total = 0;
    for (int32_t r = 0; r < length; r++) {
      double dot = 0;
      for (int32_t c = 0; c < headDim_; c++) dot += static_cast<double>(query[c]) * keys[static_cast<size_t>(r) * headDim_ + c];
      logits[r] = dot / std::sqrt(static_cast<double>(headDim_));
      max = std::max(max, logits[r]);
    }
    for (int32_t r = 0; r < length; r++) {
      const double weight = std::exp(logits[r] - max);
      total += weight;
      for (int32_t c = 0; c < headDim_; c++) out[c] += weight * values[static_cast<size_t>(r) * headDim_ + c];
    }
    for (double& x : out) x = length > 0 ? x / total : 0.0;
    return out;
  }

  // How far a stored value may be from the written one. Keys and values here lie within 5.5 in
  // magnitude; a scale is at most 5.5 / 127 (int8) or 5.5 / 7 (int4), and every re-encoding by a
  // compaction adds at most half a scale: the limits allow a few of them and still tell heads (1 apart)
  // and rows of different columns of int8 apart.
  static float tolerance(int32_t format) {
    switch (format) {
      case 1: return 4e-3f;  // f16: half an ulp of values below 8, exact on re-encoding
      case 2: return 0.12f;
      case 3: return 0.95f;
      default: return 0.0f;
    }
  }

  int64_t blocks(int64_t rows) const { return (rows + blockSize_ - 1) / blockSize_; }

  ByteSource& in_;
  int32_t pool_ = -1;
  int32_t headDim_ = 1;
  int32_t blockSize_ = 1;
  int32_t format_ = 0;  // KvFormat of the pool
  bool mixed_ = false;  // whether a sequence ever gave a head another format
  int32_t maxBlocks_ = 1;
  int32_t nextPosition_ = 0;
  std::vector<ShadowSequence> live_;
  std::vector<int32_t> dead_;
};
