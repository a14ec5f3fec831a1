// Native engine test (built with -fsanitize=address,undefined, scalar lanes of simd.h, one thread):
// every matmul kernel on random blocks of every format and odd shapes against a double-precision dot
// product over the engine's own dequantization (the vitest suite checks that dequantization against a
// TS twin that follows llama.cpp), and the whole forward pass of a small f32 model through the C ABI
// against a double-precision reference forward, with the typed errors that must leave a sequence as it
// was; then a Qwen 2-style model (Q/K/V biases, NeoX RoPE) against the same reference, prefilled whole
// and in chunks at offsets (bit for bit the same). Exits 0 when everything held; aborts otherwise.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../../src/cpp/adakv.h"
#include "../../src/cpp/engine/activations.h"
#include "../../src/cpp/engine/classifier_screen.h"
#include "../../src/cpp/engine/engine.h"
#include "../../src/cpp/engine/formats.h"
#include "../../src/cpp/engine/forward.h"
#include "../../src/cpp/status.h"

#define REQUIRE(condition)                                                                     \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "engine test failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

using adakv::engine::TensorType;

namespace {

std::mt19937 random(20260412);

float uniform(float scale = 1.0f) { return std::uniform_real_distribution<float>(-scale, scale)(random); }
uint8_t byte() { return static_cast<uint8_t>(random() & 0xff); }

// binary16 bits of a finite float in the normal range (truncating rounding is enough for test data).
uint16_t half(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xff) - 112;
  if (exponent <= 0) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exponent) << 10) | ((bits >> 13) & 0x3ff));
}

void putHalf(uint8_t* p, float value) {
  const uint16_t h = half(value);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// Random but valid bytes of `rows` rows of `cols` weights of `type` (finite scales of sensible size).
std::vector<uint8_t> randomTensor(int32_t type, int32_t rows, int32_t cols) {
  const size_t rowBytes = adakv::engine::rowBytes(type, cols);
  std::vector<uint8_t> bytes(rowBytes * rows);
  for (uint8_t& b : bytes) b = byte();
  for (int32_t r = 0; r < rows; r++) {
    uint8_t* row = bytes.data() + r * rowBytes;
    switch (type) {
      case adakv::engine::kF32:
        for (int32_t i = 0; i < cols; i++) {
          const float v = uniform();
          std::memcpy(row + 4 * i, &v, 4);
        }
        break;
      case adakv::engine::kF16:
        for (int32_t i = 0; i < cols; i++) putHalf(row + 2 * i, uniform());
        break;
      case adakv::engine::kBF16:
        for (int32_t i = 0; i < cols; i++) {
          const float v = uniform();
          uint32_t bits;
          std::memcpy(&bits, &v, 4);
          row[2 * i] = static_cast<uint8_t>((bits >> 16) & 0xff);
          row[2 * i + 1] = static_cast<uint8_t>(bits >> 24);
        }
        break;
      case adakv::engine::kQ8_0:
        for (int32_t b = 0; b < cols / 32; b++) putHalf(row + 34 * b, std::fabs(uniform(0.02f)) + 1e-3f);
        break;
      case adakv::engine::kQ4_0:
        for (int32_t b = 0; b < cols / 32; b++) putHalf(row + 18 * b, uniform(0.2f));
        break;
      case adakv::engine::kQ4_K:
        for (int32_t b = 0; b < cols / 256; b++) {
          putHalf(row + 144 * b, std::fabs(uniform(0.01f)) + 1e-3f);
          putHalf(row + 144 * b + 2, std::fabs(uniform(0.01f)));
        }
        break;
      case adakv::engine::kQ6_K:
        for (int32_t b = 0; b < cols / 256; b++) putHalf(row + 210 * b + 208, uniform(0.002f));
        break;
      default:
        break;
    }
  }
  return bytes;
}

void testKernels() {
  const int32_t types[] = {adakv::engine::kF32, adakv::engine::kF16, adakv::engine::kBF16, adakv::engine::kQ8_0,
                           adakv::engine::kQ4_0, adakv::engine::kQ4_K, adakv::engine::kQ6_K};
  int32_t checked = 0;
  for (int32_t type : types) {
    const int32_t unit = adakv::engine::blockWeights(type);
    for (int32_t run = 0; run < 12; run++) {
      const int32_t rows = 1 + static_cast<int32_t>(random() % 23);
      const int32_t tokens = 1 + static_cast<int32_t>(random() % 7);
      const int32_t cols = unit == 1 ? 1 + static_cast<int32_t>(random() % 70) : unit * (1 + static_cast<int32_t>(random() % 3));
      const std::vector<uint8_t> weights = randomTensor(type, rows, cols);
      std::vector<float> x(static_cast<size_t>(tokens) * cols), out(static_cast<size_t>(tokens) * rows, NAN), w(cols);
      for (float& v : x) v = uniform(2.0f);
      REQUIRE(adakv_kernel_matmul(type, weights.data(), rows, cols, x.data(), tokens, out.data()) == adakv::kOk);
      const size_t rowBytes = adakv::engine::rowBytes(type, cols);
      for (int32_t o = 0; o < rows; o++) {
        REQUIRE(adakv_kernel_dequantize(type, weights.data() + o * rowBytes, cols, w.data()) == adakv::kOk);
        for (int32_t t = 0; t < tokens; t++) {
          double exact = 0, magnitude = 0, quantization = 0;
          for (int32_t g = 0; g < cols; g += (unit == 1 ? cols : (unit == 32 ? 32 : 256))) {
            const int32_t end = unit == 1 ? cols : g + (unit == 32 ? 32 : 256);
            double amax = 0, weightSum = 0;
            for (int32_t i = g; i < end; i++) {
              exact += static_cast<double>(w[i]) * x[t * cols + i];
              magnitude += std::fabs(static_cast<double>(w[i]) * x[t * cols + i]);
              amax = std::fmax(amax, std::fabs(x[t * cols + i]));
              weightSum += std::fabs(w[i]);
            }
            if (unit > 1) quantization += weightSum * amax / 254.0;
          }
          const double bound = 1e-6 * magnitude + quantization * (1 + 1e-5) + 1e-30;
          REQUIRE(std::fabs(out[t * rows + o] - exact) <= bound);
          checked++;
        }
      }
    }
  }
  // Bad shapes and types are statuses, never aborts.
  std::vector<uint8_t> bytes(64);
  std::vector<float> x(64), out(64);
  REQUIRE(adakv_kernel_matmul(adakv::engine::kQ8_0, bytes.data(), 1, 31, x.data(), 1, out.data()) == adakv::kInvalidArgument);
  REQUIRE(adakv_kernel_matmul(99, bytes.data(), 1, 32, x.data(), 1, out.data()) == adakv::kUnsupportedType);
  REQUIRE(adakv_kernel_matmul(adakv::engine::kF32, bytes.data(), 1, 4, x.data(), 0, out.data()) == adakv::kInvalidArgument);
  std::printf("matmul kernels: %d outputs of 7 formats within their bounds\n", checked);
}

// ---- the forward pass ---------------------------------------------------------------------------

constexpr int32_t kDim = 24, kHidden = 40, kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 6, kVocab = 17, kContext = 24;
constexpr float kEps = 1e-5f;

struct Weights {
  std::vector<float> embedding, finalNorm, cos, sin;
  std::vector<float> attentionNorm[kLayers], wq[kLayers], wk[kLayers], wv[kLayers], wo[kLayers], ffnNorm[kLayers],
      w1[kLayers], w2[kLayers], w3[kLayers];
  std::vector<float> bq[kLayers], bk[kLayers], bv[kLayers];  // empty: no biases (LLaMA)
  bool neox = false;                                         // RoPE pairs (j, j + half) instead of (2j, 2j + 1)
};

std::vector<float> randomVector(size_t n, float scale, float offset = 0) {
  std::vector<float> v(n);
  for (float& x : v) x = offset + uniform(scale);
  return v;
}

Weights randomWeights(bool qwen = false) {
  Weights w;
  w.neox = qwen;
  w.embedding = randomVector(kVocab * kDim, 1.0f);
  w.finalNorm = randomVector(kDim, 0.2f, 1.0f);
  for (int32_t l = 0; l < kLayers; l++) {
    w.attentionNorm[l] = randomVector(kDim, 0.2f, 1.0f);
    w.ffnNorm[l] = randomVector(kDim, 0.2f, 1.0f);
    w.wq[l] = randomVector(kHeads * kHeadDim * kDim, 0.35f);
    w.wk[l] = randomVector(kKvHeads * kHeadDim * kDim, 0.35f);
    w.wv[l] = randomVector(kKvHeads * kHeadDim * kDim, 0.35f);
    w.wo[l] = randomVector(kDim * kHeads * kHeadDim, 0.35f);
    w.w1[l] = randomVector(kHidden * kDim, 0.35f);
    w.w2[l] = randomVector(kDim * kHidden, 0.25f);
    w.w3[l] = randomVector(kHidden * kDim, 0.35f);
    if (qwen) {
      w.bq[l] = randomVector(kHeads * kHeadDim, 0.8f);
      w.bk[l] = randomVector(kKvHeads * kHeadDim, 0.8f);
      w.bv[l] = randomVector(kKvHeads * kHeadDim, 0.5f);
    }
  }
  for (int32_t p = 0; p < kContext; p++) {
    for (int32_t j = 0; j < kHeadDim / 2; j++) {
      const double angle = p * std::pow(10000.0, -2.0 * j / kHeadDim);
      w.cos.push_back(static_cast<float>(std::cos(angle)));
      w.sin.push_back(static_cast<float>(std::sin(angle)));
    }
  }
  return w;
}

void upload(int32_t model, int32_t slot, int32_t layer, const std::vector<float>& values) {
  uintptr_t address = 0;
  REQUIRE(adakv_model_tensor(model, slot, layer, adakv::engine::kF32, static_cast<uint32_t>(values.size() * 4), &address) == adakv::kOk);
  std::memcpy(reinterpret_cast<void*>(address), values.data(), values.size() * 4);
}

// Every tensor of a LLaMA layer stack (the Qwen biases are uploaded by the tests that have them).
void uploadLlamaWeights(int32_t model, const Weights& w) {
  upload(model, 0, 0, w.embedding);
  upload(model, 1, 0, w.finalNorm);
  upload(model, 3, 0, w.cos);
  upload(model, 4, 0, w.sin);
  for (int32_t l = 0; l < kLayers; l++) {
    upload(model, 10, l, w.attentionNorm[l]);
    upload(model, 11, l, w.wq[l]);
    upload(model, 12, l, w.wk[l]);
    upload(model, 13, l, w.wv[l]);
    upload(model, 14, l, w.wo[l]);
    upload(model, 15, l, w.ffnNorm[l]);
    upload(model, 16, l, w.w1[l]);
    upload(model, 17, l, w.w2[l]);
    upload(model, 18, l, w.w3[l]);
  }
}

std::vector<double> matvec(const std::vector<float>& w, int32_t rows, int32_t cols, const std::vector<double>& x) {
  std::vector<double> out(rows, 0.0);
  for (int32_t o = 0; o < rows; o++)
    for (int32_t i = 0; i < cols; i++) out[o] += w[o * cols + i] * x[i];
  return out;
}

std::vector<double> rmsnorm(const std::vector<double>& x, const std::vector<float>& weight) {
  double squares = 0;
  for (double v : x) squares += v * v;
  const double scale = 1.0 / std::sqrt(squares / x.size() + kEps);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); i++) out[i] = weight[i] * scale * x[i];
  return out;
}

void rope(std::vector<double>& v, int32_t heads, int32_t position, const Weights& w) {
  const int32_t half = kHeadDim / 2;
  for (int32_t h = 0; h < heads; h++) {
    for (int32_t j = 0; j < half; j++) {
      const double c = w.cos[position * half + j], s = w.sin[position * half + j];
      const int32_t i = w.neox ? h * kHeadDim + j : h * kHeadDim + 2 * j, partner = w.neox ? i + half : i + 1;
      const double v0 = v[i], v1 = v[partner];
      v[i] = v0 * c - v1 * s;
      v[partner] = v0 * s + v1 * c;
    }
  }
}

void addBias(std::vector<double>& v, const std::vector<float>& bias) {
  for (size_t i = 0; i < bias.size(); i++) v[i] += bias[i];
}

// Logits after each token of `tokens` (positions 0..n-1), every token attending to all before it.
std::vector<std::vector<double>> referenceForward(const Weights& w, const std::vector<int32_t>& tokens) {
  std::vector<std::vector<double>> keys[kLayers], values[kLayers], logits;
  const int32_t group = kHeads / kKvHeads;
  for (size_t t = 0; t < tokens.size(); t++) {
    std::vector<double> x(w.embedding.begin() + tokens[t] * kDim, w.embedding.begin() + (tokens[t] + 1) * kDim);
    for (int32_t l = 0; l < kLayers; l++) {
      const std::vector<double> normed = rmsnorm(x, w.attentionNorm[l]);
      std::vector<double> q = matvec(w.wq[l], kHeads * kHeadDim, kDim, normed);
      std::vector<double> k = matvec(w.wk[l], kKvHeads * kHeadDim, kDim, normed);
      std::vector<double> v = matvec(w.wv[l], kKvHeads * kHeadDim, kDim, normed);
      addBias(q, w.bq[l]);
      addBias(k, w.bk[l]);
      addBias(v, w.bv[l]);
      keys[l].push_back(k);
      values[l].push_back(v);
      rope(q, kHeads, static_cast<int32_t>(t), w);
      rope(keys[l].back(), kKvHeads, static_cast<int32_t>(t), w);
      std::vector<double> attention(kHeads * kHeadDim, 0.0);
      for (int32_t h = 0; h < kHeads; h++) {
        const int32_t kv = (h / group) * kHeadDim;
        std::vector<double> scores;
        double max = -INFINITY;
        for (const auto& key : keys[l]) {
          double dot = 0;
          for (int32_t i = 0; i < kHeadDim; i++) dot += q[h * kHeadDim + i] * key[kv + i];
          scores.push_back(dot / std::sqrt(static_cast<double>(kHeadDim)));
          max = std::fmax(max, scores.back());
        }
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - max));
        for (size_t s = 0; s < scores.size(); s++)
          for (int32_t i = 0; i < kHeadDim; i++) attention[h * kHeadDim + i] += scores[s] / total * values[l][s][kv + i];
      }
      const std::vector<double> projected = matvec(w.wo[l], kDim, kHeads * kHeadDim, attention);
      for (int32_t i = 0; i < kDim; i++) x[i] += projected[i];
      const std::vector<double> normed2 = rmsnorm(x, w.ffnNorm[l]);
      std::vector<double> gate = matvec(w.w1[l], kHidden, kDim, normed2);
      const std::vector<double> up = matvec(w.w3[l], kHidden, kDim, normed2);
      for (int32_t i = 0; i < kHidden; i++) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      const std::vector<double> down = matvec(w.w2[l], kDim, kHidden, gate);
      for (int32_t i = 0; i < kDim; i++) x[i] += down[i];
    }
    logits.push_back(matvec(w.embedding, kVocab, kDim, rmsnorm(x, w.finalNorm)));
  }
  return logits;
}

void expectClose(const float* got, const std::vector<double>& want) {
  double max = 0, diff = 0;
  for (size_t i = 0; i < want.size(); i++) {
    max = std::fmax(max, std::fabs(want[i]));
    diff = std::fmax(diff, std::fabs(got[i] - want[i]));
  }
  REQUIRE(diff <= 1e-4 * max);
}

void testForward() {
  const Weights w = randomWeights();
  const int32_t config[10] = {kDim, kHidden, kLayers, kHeads, kKvHeads, kHeadDim, kVocab, kContext, 1, 0};
  int32_t badConfig[10];
  std::memcpy(badConfig, config, sizeof badConfig);
  badConfig[5] = 5;  // odd head dim
  REQUIRE(adakv_model_create(badConfig, kEps) == adakv::kInvalidArgument);
  std::memcpy(badConfig, config, sizeof badConfig);
  badConfig[9] = 2;  // no such RoPE style
  REQUIRE(adakv_model_create(badConfig, kEps) == adakv::kInvalidArgument);
  REQUIRE(adakv_model_create(config, 0.0f) == adakv::kInvalidArgument);
  const int32_t model = adakv_model_create(config, kEps);
  REQUIRE(model >= 0);
  uintptr_t address = 0;
  REQUIRE(adakv_model_tensor(model, 11, 0, 77, 4, &address) == adakv::kUnsupportedType);
  REQUIRE(adakv_model_tensor(model, 11, 0, adakv::engine::kF32, 4, &address) == adakv::kInvalidArgument);
  REQUIRE(adakv_model_tensor(model, 11, kLayers, adakv::engine::kF32, 4, &address) == adakv::kOutOfRange);
  REQUIRE(adakv_model_tensor(model, 15, 0, adakv::engine::kQ8_0, 34, &address) == adakv::kUnsupportedType);
  REQUIRE(adakv_model_tensor(model, 2, 0, adakv::engine::kF32, kVocab * kDim * 4, &address) == adakv::kInvalidArgument);  // tied
  REQUIRE(adakv_model_tensor(model, 11, 0, adakv::engine::kQ8_0, 34, &address) == adakv::kInvalidArgument);  // 24 % 32 != 0

  const int32_t pool = adakv_pool_create(kHeadDim, 4, 0, 14);
  REQUIRE(pool >= 0);
  const int32_t sequence = adakv_sequence_add(pool, kLayers, kKvHeads);
  REQUIRE(sequence >= 0);
  std::vector<float> logits(2 * kVocab);
  const std::vector<int32_t> prompt = {3, 11, 0, 16, 7};
  REQUIRE(adakv_prefill(model, pool, sequence, prompt.data(), 5, 0, logits.data(), nullptr, nullptr, nullptr) == adakv::kModelIncomplete);

  uploadLlamaWeights(model, w);
  REQUIRE(adakv_model_ready(model) == adakv::kOk);
  double stats[3];
  REQUIRE(adakv_model_stats(model, stats) == 3);
  REQUIRE(stats[2] == 0);  // no screen until adakv_model_screen
  REQUIRE(stats[1] == kVocab * kDim + kDim * (2 * kLayers + 1) +
                          kLayers * (2.0 * kHeads * kHeadDim * kDim + 2.0 * kKvHeads * kHeadDim * kDim + 3.0 * kHidden * kDim));

  const std::vector<int32_t> all = {3, 11, 0, 16, 7, 9, 2, 12};
  const std::vector<std::vector<double>> expected = referenceForward(w, all);
  std::vector<float> keys(kLayers * 5 * kKvHeads * kHeadDim);
  REQUIRE(adakv_prefill(model, pool, sequence, prompt.data(), 5, 0, logits.data(), nullptr, keys.data(), nullptr) == adakv::kOk);
  expectClose(logits.data(), expected[4]);
  REQUIRE(adakv_prefill(model, pool, sequence, prompt.data(), 5, 0, logits.data(), nullptr, nullptr, nullptr) == adakv::kInvalidArgument);

  // Decode over the paged cache; bad tokens, positions, duplicates and handles change nothing.
  double before[16], after[16];
  REQUIRE(adakv_pool_stats(pool, before) > 0);
  int32_t argmax = -1;
  const int32_t badToken = kVocab, badPosition = kContext, seq = sequence, second = sequence;
  const int32_t token = all[5], position = 5;
  REQUIRE(adakv_decode(model, pool, 1, &seq, &badToken, &position, logits.data(), nullptr, nullptr) == adakv::kOutOfRange);
  REQUIRE(adakv_decode(model, pool, 1, &seq, &token, &badPosition, logits.data(), nullptr, nullptr) == adakv::kOutOfRange);
  const int32_t duplicates[2] = {seq, second}, tokens2[2] = {token, token}, positions2[2] = {5, 6};
  REQUIRE(adakv_decode(model, pool, 2, duplicates, tokens2, positions2, logits.data(), nullptr, nullptr) == adakv::kInvalidArgument);
  const int32_t stale = sequence + 1;
  REQUIRE(adakv_decode(model, pool, 1, &stale, &token, &position, logits.data(), nullptr, nullptr) == adakv::kInvalidHandle);
  REQUIRE(adakv_pool_stats(pool, after) > 0);
  REQUIRE(std::memcmp(before, after, sizeof(double) * 9) == 0);
  for (int32_t step = 5; step < 8; step++) {
    REQUIRE(adakv_decode(model, pool, 1, &seq, &all[step], &step, logits.data(), &argmax, nullptr) == adakv::kOk);
    expectClose(logits.data(), expected[step]);
    REQUIRE(argmax == adakv_argmax(logits.data(), kVocab));
  }
  // 8 rows per head in 2 blocks each: 8 blocks used, 6 left of 14; a second prompt of 5 needs 8.
  const int32_t other = adakv_sequence_add(pool, kLayers, kKvHeads);
  REQUIRE(adakv_pool_stats(pool, before) > 0);
  REQUIRE(adakv_prefill(model, pool, other, prompt.data(), 5, 0, logits.data(), nullptr, nullptr, nullptr) == adakv::kPoolExhausted);
  REQUIRE(adakv_length(pool, other, 0, 0) == 0);
  REQUIRE(adakv_pool_stats(pool, after) > 0);
  REQUIRE(std::memcmp(before, after, sizeof(double) * 9) == 0);
  REQUIRE(adakv_pool_check(pool) == adakv::kOk);
  REQUIRE(adakv_pool_destroy(pool) == adakv::kOk);
  REQUIRE(adakv_model_destroy(model) == adakv::kOk);
  REQUIRE(adakv_model_destroy(model) == adakv::kInvalidHandle);
  std::printf("forward pass: prefill and decode within 1e-4 of an f64 reference; typed errors left the pool unchanged\n");
}

// Qwen 2's additions and chunked prefill: biases, NeoX RoPE; a prompt prefilled in chunks at offsets
// gives the whole prefill's logits and K/V bit for bit; chunks that do not continue the sequence fail.
void testQwenAndChunks() {
  const Weights w = randomWeights(true);
  const int32_t config[10] = {kDim, kHidden, kLayers, kHeads, kKvHeads, kHeadDim, kVocab, kContext, 1, 1};
  const int32_t model = adakv_model_create(config, kEps);
  REQUIRE(model >= 0);
  uploadLlamaWeights(model, w);
  for (int32_t l = 0; l < kLayers; l++) {
    uintptr_t address = 0;
    REQUIRE(adakv_model_tensor(model, 19, l, adakv::engine::kF16, kHeads * kHeadDim * 2, &address) == adakv::kUnsupportedType);
    REQUIRE(adakv_model_tensor(model, 20, l, adakv::engine::kF32, 4, &address) == adakv::kInvalidArgument);
    upload(model, 19, l, w.bq[l]);
    upload(model, 20, l, w.bk[l]);
    upload(model, 21, l, w.bv[l]);
  }
  REQUIRE(adakv_model_ready(model) == adakv::kOk);
  const std::vector<int32_t> all = {3, 11, 0, 16, 7, 9, 2, 12, 5, 1, 15};
  const int32_t n = static_cast<int32_t>(all.size());
  const std::vector<std::vector<double>> expected = referenceForward(w, all);
  const int32_t pool = adakv_pool_create(kHeadDim, 4, 0, 1000);
  const size_t kvFloats = static_cast<size_t>(kLayers) * n * kKvHeads * kHeadDim;
  // whole
  const int32_t whole = adakv_sequence_add(pool, kLayers, kKvHeads);
  std::vector<float> wholeLogits(kVocab), wholeKeys(kvFloats);
  REQUIRE(adakv_prefill(model, pool, whole, all.data(), n, 0, wholeLogits.data(), nullptr, wholeKeys.data(), nullptr) == adakv::kOk);
  expectClose(wholeLogits.data(), expected[n - 1]);
  // chunks of 2, 3, 1 and 5 tokens
  const int32_t chunked = adakv_sequence_add(pool, kLayers, kKvHeads);
  std::vector<float> logits(kVocab);
  const int32_t cuts[] = {0, 2, 5, 6, n};
  for (int32_t c = 0; c + 1 < 5; c++) {
    const int32_t start = cuts[c], count = cuts[c + 1] - cuts[c];
    std::vector<float> keys(static_cast<size_t>(kLayers) * count * kKvHeads * kHeadDim);
    if (start > 0) {
      // a gap or an overlap changes nothing
      REQUIRE(adakv_prefill(model, pool, chunked, all.data() + start, count, start + 1, logits.data(), nullptr, nullptr, nullptr) == adakv::kInvalidArgument);
      REQUIRE(adakv_prefill(model, pool, chunked, all.data() + start, count, start - 1, logits.data(), nullptr, nullptr, nullptr) == adakv::kInvalidArgument);
      REQUIRE(adakv_length(pool, chunked, 1, 1) == start);
    }
    REQUIRE(adakv_prefill(model, pool, chunked, all.data() + start, count, start, logits.data(), nullptr, keys.data(), nullptr) == adakv::kOk);
    expectClose(logits.data(), expected[start + count - 1]);
    for (int32_t l = 0; l < kLayers; l++) {
      const size_t rowFloats = static_cast<size_t>(kKvHeads) * kHeadDim;
      REQUIRE(std::memcmp(keys.data() + l * count * rowFloats, wholeKeys.data() + (l * n + start) * rowFloats, count * rowFloats * 4) == 0);
    }
  }
  REQUIRE(std::memcmp(logits.data(), wholeLogits.data(), kVocab * 4) == 0);
  REQUIRE(adakv_prefill(model, pool, chunked, all.data(), 1, kContext, logits.data(), nullptr, nullptr, nullptr) == adakv::kOutOfRange);
  std::vector<float> a(n * kHeadDim), b(n * kHeadDim);
  for (int32_t l = 0; l < kLayers; l++) {
    for (int32_t h = 0; h < kKvHeads; h++) {
      for (int32_t kind = 0; kind < 2; kind++) {
        REQUIRE(adakv_read_rows(pool, whole, l, h, kind, a.data()) == n);
        REQUIRE(adakv_read_rows(pool, chunked, l, h, kind, b.data()) == n);
        REQUIRE(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
      }
    }
  }
  REQUIRE(adakv_pool_check(pool) == adakv::kOk);
  REQUIRE(adakv_pool_destroy(pool) == adakv::kOk);
  REQUIRE(adakv_model_destroy(model) == adakv::kOk);
  std::printf("Qwen 2 forward pass (biases, NeoX RoPE) within 1e-4 of an f64 reference; chunked prefill equal to whole bit for bit\n");
}

// A classifier tensor over `w` (not owned).
adakv::engine::Tensor f32Classifier(std::vector<float>& w, int32_t rows, int32_t cols) {
  adakv::engine::Tensor classifier;
  classifier.type = adakv::engine::kF32;
  classifier.rows = rows;
  classifier.cols = cols;
  classifier.rowBytes = static_cast<size_t>(cols) * 4;
  classifier.bytes = classifier.rowBytes * rows;
  classifier.data = reinterpret_cast<uint8_t*>(w.data());
  return classifier;
}

// The classifier screen's promise, row by row: |f32 logit - screened logit| <= the bound it computes,
// on weights and activations of many scales (tiny ones with subnormal f16 scales, outliers, zero
// rows), and its argmax is the f32 argmax, recomputing rows in ascending order.
void testClassifierScreen() {
  const int32_t rows = 401;  // not a multiple of 4: the scalar tail too
  int32_t checked = 0;
  for (int32_t cols : {32, 96, 288}) {
    for (int32_t kind = 0; kind < 6; kind++) {
      std::vector<float> w(static_cast<size_t>(rows) * cols), x(cols);
      const float scales[] = {1.0f, 1e-6f, 1e3f, 1.0f, 1.0f, 0.05f};
      for (int32_t r = 0; r < rows; r++) {
        for (int32_t i = 0; i < cols; i++) {
          float v = uniform(scales[kind]);
          if (kind == 3 && i == r % cols) v *= 1000.0f;  // one outlier per row
          if (kind == 4 && r % 5 == 0) v = 0.0f;           // zero rows
          if (kind == 5) v += 0.3f * std::sin(static_cast<float>(i));  // rows crowding around one row
          w[static_cast<size_t>(r) * cols + i] = v;
        }
      }
      for (int32_t i = 0; i < cols; i++) x[i] = uniform(kind == 3 ? 1.0f : 4.0f) * (i % 17 == 0 ? 50.0f : 1.0f);
      const adakv::engine::Tensor classifier = f32Classifier(w, rows, cols);
      adakv::engine::ClassifierScreen screen;
      REQUIRE(adakv::engine::buildClassifierScreen(classifier, &screen) == adakv::kOk);
      REQUIRE(screen.built());
      std::vector<float> exact(rows), screened(rows);
      REQUIRE(adakv::engine::matmulStandalone(classifier.view(), x.data(), 1, exact.data()) == adakv::kOk);
      REQUIRE(adakv::engine::matmulStandalone(screen.weights.view(), x.data(), 1, screened.data()) == adakv::kOk);
      std::vector<int16_t> q(cols);
      std::vector<float> d(cols / 32);
      adakv::engine::quantizeRowQ8(x.data(), cols, q.data(), d.data());
      const adakv::engine::ScreenTerms terms = adakv::engine::screenTerms(x.data(), q.data(), d.data(), cols);
      REQUIRE(terms.finite);
      int32_t best = 0;
      for (int32_t r = 0; r < rows; r++) {
        REQUIRE(std::fabs(static_cast<double>(exact[r]) - screened[r]) <= adakv::engine::screenBound(screen, terms, r, screened[r]));
        if (exact[r] > exact[best]) best = r;
      }
      struct Calls {
        const std::vector<float>* exact;
        std::vector<int32_t> rows;
      } calls{&exact, {}};
      auto recompute = [](void* context, int32_t r) {
        Calls& c = *static_cast<Calls*>(context);
        c.rows.push_back(r);
        return (*c.exact)[static_cast<size_t>(r)];
      };
      REQUIRE(adakv::engine::screenedArgmax(screen, terms, screened.data(), recompute, &calls) == best);
      for (size_t i = 1; i < calls.rows.size(); i++) REQUIRE(calls.rows[i] > calls.rows[i - 1]);
      checked++;
    }
  }
  // Not finite: the activations (no decision), or a weight (no screen).
  std::vector<float> w(64 * 32, 0.5f), x(32, 1.0f);
  const adakv::engine::Tensor classifier = f32Classifier(w, 64, 32);
  adakv::engine::ClassifierScreen screen;
  REQUIRE(adakv::engine::buildClassifierScreen(classifier, &screen) == adakv::kOk && screen.built());
  std::vector<int16_t> q(32, 0);
  std::vector<float> d(1, 0.0f), screened(64, 0.0f);
  x[3] = NAN;
  const adakv::engine::ScreenTerms terms = adakv::engine::screenTerms(x.data(), q.data(), d.data(), 32);
  REQUIRE(!terms.finite);
  REQUIRE(adakv::engine::screenedArgmax(screen, terms, screened.data(), [](void*, int32_t) { return 0.0f; }, nullptr) == -1);
  w[100] = INFINITY;
  REQUIRE(adakv::engine::buildClassifierScreen(classifier, &screen) == adakv::kOk && !screen.built());
  std::printf("classifier screen: |f32 - screened| within its bound on %d matrices of %d rows; its argmax the f32 one\n", checked, rows);
}

}  // namespace

int main() {
  testKernels();
  testClassifierScreen();
  testForward();
  testQwenAndChunks();
  return 0;
}
