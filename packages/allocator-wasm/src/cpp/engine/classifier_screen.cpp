#include "classifier_screen.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "formats.h"
#include "ops.h"
#include "simd.h"
#include "threads.h"

namespace adakv {
namespace engine {

namespace {

// A double rounded up to a float (bounds must never shrink).
float roundUp(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, INFINITY);
  return f;
}

// The smallest binary16 value >= d (d >= 0 and finite), as its bits; false when d is beyond f16.
bool halfAtLeast(float d, uint16_t* bits) {
  if (d < 6.103515625e-05f) {  // below 2^-14: subnormal halves, multiples of 2^-24
    const double steps = std::ceil(static_cast<double>(d) * 16777216.0);
    *bits = static_cast<uint16_t>(steps >= 1024.0 ? 0x0400 : steps);
    return true;
  }
  uint32_t f;
  std::memcpy(&f, &d, 4);
  int32_t exponent = static_cast<int32_t>((f >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = (f & 0x7fffffu) >> 13;
  if ((f & 0x1fffu) != 0 && ++mantissa == 1024) {
    mantissa = 0;
    exponent++;
  }
  if (exponent >= 31) return false;
  *bits = static_cast<uint16_t>((exponent << 10) | mantissa);
  return true;
}

// Quantizes one block of 32 weights into q8_0 at `block`; accumulates the row's error bounds.
bool quantizeBlock(const float* w, uint8_t* block, double* maxError, double* absSum, double* maxWeight) {
  float amax = 0.0f;
  for (int32_t i = 0; i < 32; i++) amax = std::fmax(amax, std::fabs(w[i]));
  uint16_t bits;
  if (!halfAtLeast(amax / 127.0f, &bits)) return false;
  const float scale = halfToFloat(bits);
  block[0] = static_cast<uint8_t>(bits & 0xff);
  block[1] = static_cast<uint8_t>(bits >> 8);
  // Any nearby q will do (its error is measured exactly below), so a multiply by the inverse.
  const float inverse = scale == 0.0f ? 0.0f : 1.0f / scale;
  double error = 0, sum = 0;
  for (int32_t i = 0; i < 32; i++) {
    float q = std::nearbyint(w[i] * inverse);
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    block[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
    const double quantized = static_cast<double>(scale) * q;  // exact: 11 x 8 significant bits
    error = std::fmax(error, std::fabs(static_cast<double>(w[i]) - quantized));
    sum += std::fabs(quantized);
  }
  *maxError = std::fmax(*maxError, error);
  *absSum += sum;
  *maxWeight = std::fmax(*maxWeight, static_cast<double>(amax));
  return true;
}

}  // namespace

ClassifierScreen::~ClassifierScreen() { std::free(weights.data); }

void dropClassifierScreen(ClassifierScreen* screen) {
  std::free(screen->weights.data);
  screen->weights = Tensor();
}

Status buildClassifierScreen(const Tensor& classifier, ClassifierScreen* screen) {
  dropClassifierScreen(screen);
  if (classifier.type != kF32 || classifier.cols % kQ8_0Block != 0) return kOk;
  const int32_t rows = classifier.rows, cols = classifier.cols, blocks = cols / kQ8_0Block;
  for (size_t i = 0; i < static_cast<size_t>(rows) * cols; i++) {
    if (!std::isfinite(classifier.f32()[i])) return kOk;
  }
  Tensor q8;
  q8.type = kQ8_0;
  q8.rows = rows;
  q8.cols = cols;
  q8.rowBytes = static_cast<size_t>(blocks) * kQ8_0BlockBytes;
  q8.bytes = q8.rowBytes * rows;
  q8.data = static_cast<uint8_t*>(std::malloc(q8.bytes + 16));
  const size_t n = static_cast<size_t>(rows);
  if (q8.data == nullptr || !screen->maxError.resize(n, 0.0f) || !screen->absSum.resize(n, 0.0f) ||
      !screen->magnitude.resize(n, 0.0f)) {
    std::free(q8.data);
    return kOutOfMemory;
  }
  for (int32_t r = 0; r < rows; r++) {
    double maxError = 0, absSum = 0, maxWeight = 0;
    for (int32_t b = 0; b < blocks; b++) {
      const float* w = classifier.f32() + static_cast<size_t>(r) * cols + static_cast<size_t>(b) * kQ8_0Block;
      if (!quantizeBlock(w, q8.data + r * q8.rowBytes + static_cast<size_t>(b) * kQ8_0BlockBytes, &maxError, &absSum, &maxWeight)) {
        std::free(q8.data);
        return kOk;  // a scale beyond f16: no screen
      }
    }
    screen->maxError[static_cast<size_t>(r)] = roundUp(maxError);
    screen->absSum[static_cast<size_t>(r)] = roundUp(absSum);
    screen->magnitude[static_cast<size_t>(r)] = roundUp(maxWeight + maxError);
  }
  screen->weights = q8;
  return kOk;
}

ScreenTerms screenTerms(const float* x, const int16_t* q, const float* d, int32_t cols) {
  // |x|_1 and the activations' largest quantization error, exactly as the q8 kernel sees them (d q).
  double norm1 = 0, activationError = 0;
  for (int32_t i = 0; i < cols; i++) {
    if (!std::isfinite(x[i])) return ScreenTerms();
    norm1 += std::fabs(static_cast<double>(x[i]));
    const double quantized = static_cast<double>(d[i / 32]) * q[i];
    activationError = std::fmax(activationError, std::fabs(static_cast<double>(x[i]) - quantized));
  }
  // A sum of n products in f32 is within n u (u = 2^-24) of the sum of their magnitudes: the f32
  // classifier sums cols products (<= |x|_1 max|w|), the q8 kernel cols / 32 scaled block sums (<=
  // |x|_1 max|w8| + max|x - x8| sum|w8|), each product rounded twice. Doubled for slack.
  const double rounding = 2.0 * (cols + cols / 32 + 16) * 5.9604644775390625e-8;
  ScreenTerms terms;
  terms.perMaxError = roundUp(norm1 * (1.0 + rounding));
  terms.perAbsSum = roundUp(activationError * (1.0 + rounding));
  terms.perMagnitude = roundUp(norm1 * rounding);
  terms.finite = std::isfinite(terms.perMaxError) && std::isfinite(terms.perAbsSum) && std::isfinite(terms.perMagnitude);
  return terms;
}

namespace {

// The bound's float arithmetic, the same in vector lanes and in the scalar twin: the row terms
// (3 products, 2 sums, each within u), inflated by 2^-18, plus 2^-20 |screened| so that screened -/+
// bound, rounded, still brackets the f32 logit, plus 2^-100 against underflow.
constexpr float kInflate = 1.0f + 0x1p-18f;
constexpr float kRelative = 0x1p-20f;
constexpr float kTiny = 0x1p-100f;

}  // namespace

float screenBound(const ClassifierScreen& screen, const ScreenTerms& terms, int32_t row, float screened) {
  const size_t r = static_cast<size_t>(row);
  float bound = terms.perMaxError * screen.maxError[r];
  const float fromActivations = terms.perAbsSum * screen.absSum[r];
  bound = bound + fromActivations;
  const float fromRounding = terms.perMagnitude * screen.magnitude[r];
  bound = bound + fromRounding;
  bound = bound * kInflate;
  const float relative = std::fabs(screened) * kRelative;
  bound = bound + relative;
  return bound + kTiny;
}

int32_t screenedArgmax(const ClassifierScreen& screen, const ScreenTerms& terms, const float* screened, ExactLogit exact,
                       void* context) {
  using namespace simd;
  if (!terms.finite) return -1;
  const int32_t vocab = screen.weights.rows, whole = vocab & ~3;
  const float* maxError = screen.maxError.data();
  const float* absSum = screen.absSum.data();
  const float* magnitude = screen.magnitude.data();
  const F4 perMaxError = splat(terms.perMaxError), perAbsSum = splat(terms.perAbsSum), perMagnitude = splat(terms.perMagnitude);
  const F4 inflate = splat(kInflate), relative = splat(kRelative), tiny = splat(kTiny), infinity = splat(INFINITY);
  auto bound4 = [&](int32_t r, F4 s) {
    F4 bound = add(add(mul(perMaxError, load(maxError + r)), mul(perAbsSum, load(absSum + r))), mul(perMagnitude, load(magnitude + r)));
    return add(add(mul(bound, inflate), mul(abs(s), relative)), tiny);
  };
  // Pass 1: the best lower bound (every lane finite, or no decision).
  F4 best = splat(-INFINITY);
  I4 finite = i32splat(-1);
  for (int32_t r = 0; r < whole; r += 4) {
    const F4 s = load(screened + r);
    const F4 lower = sub(s, bound4(r, s));
    finite = bitsAnd(finite, asInt(lessThan(abs(lower), infinity)));
    best = max(best, lower);
  }
  if (laneMask(finite) != 0xf) return -1;
  float floor = hmax(best);
  for (int32_t r = whole; r < vocab; r++) {
    const float lower = screened[r] - screenBound(screen, terms, r, screened[r]);
    if (!std::isfinite(lower)) return -1;
    floor = std::fmax(floor, lower);
  }
  // Pass 2: recompute the rows whose upper bound reaches it, four at a time skipped otherwise.
  const F4 floor4 = splat(floor);
  int32_t argmax = -1;
  float largest = 0.0f;
  auto consider = [&](int32_t r) {
    const float value = exact(context, r);
    if (!std::isfinite(value)) return false;
    if (argmax < 0 || value > largest) {
      argmax = r;
      largest = value;
    }
    return true;
  };
  for (int32_t r = 0; r < whole; r += 4) {
    const F4 s = load(screened + r);
    // upper < floor in every lane: none of the four (a NaN-free comparison, checked in pass 1)
    const int32_t reach = 0xf & ~laneMask(asInt(lessThan(add(s, bound4(r, s)), floor4)));
    for (int32_t k = 0; k < 4; k++) {
      if ((reach >> k & 1) != 0 && !consider(r + k)) return -1;
    }
  }
  for (int32_t r = whole; r < vocab; r++) {
    if (screened[r] + screenBound(screen, terms, r, screened[r]) >= floor && !consider(r)) return -1;
  }
  return argmax;
}

namespace {

struct ScreenedTokensJob {
  ClassifierScreen* screen;
  const WeightView* classifier;
  const Activations* x;
  int32_t* tokens;
};

// One row's f32 logit of classifier row r, by the classifier's own kernel (the bits the full product
// gives: see matmul.h), written over the row's screened value, which is no longer needed.
struct ExactRow {
  const WeightView* classifier;
  Activations row;
  float* scores;
};

float exactLogit(void* context, int32_t r) {
  ExactRow& exact = *static_cast<ExactRow*>(context);
  matmulRows(*exact.classifier, exact.row, exact.scores, 0, r, r + 1);
  return exact.scores[r];
}

void runScreenedTokens(void* context, int32_t begin, int32_t end, int32_t) {
  const ScreenedTokensJob& job = *static_cast<const ScreenedTokensJob*>(context);
  const int32_t dim = job.x->cols, vocab = job.classifier->rows;
  for (int32_t t = begin; t < end; t++) {
    ExactRow exact{job.classifier, Activations(), job.screen->scores.data() + static_cast<size_t>(t) * vocab};
    exact.row.values = exact.row.packed = job.x->values + static_cast<size_t>(t) * dim;
    exact.row.rows = 1;
    exact.row.cols = dim;
    const ScreenTerms terms =
        screenTerms(exact.row.values, job.x->q32 + static_cast<size_t>(t) * dim, job.x->d32 + static_cast<size_t>(t) * (dim / 32), dim);
    int32_t token = screenedArgmax(*job.screen, terms, exact.scores, exactLogit, &exact);
    if (token < 0) {  // not finite somewhere: every logit, as without a screen, says whether it is so
      matmulRows(*job.classifier, exact.row, exact.scores, 0, 0, vocab);
      token = finiteArgmax(exact.scores, vocab);
    }
    job.tokens[t] = token;
  }
}

}  // namespace

Status screenedTokens(ClassifierScreen* screen, const WeightView& classifier, const Activations& x, int32_t* tokens) {
  ScreenedTokensJob job{screen, &classifier, &x, tokens};
  return parallelFor(x.rows, runScreenedTokens, &job);
}

}  // namespace engine
}  // namespace adakv
