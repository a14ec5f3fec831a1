// Greedy decode without reading the whole f32 classifier. The screen is a q8_0 copy of it (34 bytes per
// 32 weights instead of 128) with, per row, what bounds its error. For one token, every screened logit
// lies within a bound of the logit the f32 classifier gives:
//   |f32 - screened| <= |x|_1 max|w - w8| + max|x - x8| sum|w8| + rounding of both products,
// (x8: the q8 activations, w8: the q8_0 weights), so the f32 argmax is among the rows whose upper bound
// reaches the best lower bound. Only those rows are recomputed, with the classifier's own kernel (the
// same bits as the full product), and the argmax is taken over them with argmax()'s tie-breaking: the
// token is exactly the full product's, for about a quarter of the classifier's bytes read.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../grow_array.h"
#include "../status.h"
#include "activations.h"
#include "matmul.h"
#include "model.h"

namespace adakv {
namespace engine {

struct ClassifierScreen {
  Tensor weights;  // q8_0 [vocab][dim], owned; data null when there is no screen
  // Per row, each rounded up: the largest |w - w8|, the sum of |w8|, and max|w| + max|w - w8|.
  GrowArray<float> maxError, absSum, magnitude;
  GrowArray<float> scores;  // work: [batch][vocab] screened logits, then the recomputed ones

  bool built() const { return weights.data != nullptr; }
  // What the screen holds beside the model's weights: the q8_0 rows and the three bounds per row.
  size_t bytes() const { return built() ? weights.bytes + maxError.size() * 3 * sizeof(float) : 0; }
  ~ClassifierScreen();
};

// Builds the screen of an f32 classifier (replacing any earlier one). Returns kOk and builds nothing
// when the classifier is not f32, its columns are not whole q8_0 blocks, or a weight is not finite or
// beyond what an f16 scale holds: greedy decode then reads the full classifier.
Status buildClassifierScreen(const Tensor& classifier, ClassifierScreen* screen);
void dropClassifierScreen(ClassifierScreen* screen);

// What one token's activations add to every row's bound: x (one row of `cols` f32) and its q8
// activations (q [cols], d [cols / 32]) as the screen's product saw them. finite is false when x is not.
struct ScreenTerms {
  float perMaxError = 0;   // multiplies maxError: |x|_1, with the rounding slack
  float perAbsSum = 0;     // multiplies absSum: the largest |x - d q|, with the rounding slack
  float perMagnitude = 0;  // multiplies magnitude: both products' float rounding
  bool finite = false;
};
ScreenTerms screenTerms(const float* x, const int16_t* q, const float* d, int32_t cols);

// Row r's bound on |f32 logit - screened logit| for a screened logit `screened` (inflated to cover
// the float arithmetic that compares with it).
float screenBound(const ClassifierScreen& screen, const ScreenTerms& terms, int32_t row, float screened);

// The argmax of the f32 logits from the screened ones ([vocab]): exact(context, r) gives row r's f32
// logit and is called only for the rows whose bound interval reaches the best lower bound, in
// ascending order (they include every row that attains the maximum); the first largest wins.
// -1 when the terms, a bound or a recomputed logit is not finite.
using ExactLogit = float (*)(void* context, int32_t row);
int32_t screenedArgmax(const ClassifierScreen& screen, const ScreenTerms& terms, const float* screened, ExactLogit exact,
                       void* context);

// Greedy tokens of x's rows (x: the final-normed rows with their q8 activations) whose screened logits
// screen->scores holds ([rows][vocab]), rows split over the threads; each row's argmax through
// screenedArgmax with `classifier` recomputing its candidates, or over every f32 logit when that
// cannot decide (-1 then when one is not finite).
Status screenedTokens(ClassifierScreen* screen, const WeightView& classifier, const Activations& x, int32_t* tokens);

}  // namespace engine
}  // namespace adakv
