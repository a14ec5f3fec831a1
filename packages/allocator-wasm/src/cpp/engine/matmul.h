// Matrix products with weights in any format of formats.h: out[t][o] = sum_i w[o][i] x[t][i] for a
// range of output rows [rowBegin, rowEnd) and every token row t of the input. Threads split work by
// output rows; every output is computed by one call of one fixed kernel in one fixed order, whatever
// the row range, the batch size or the thread count, so results are bit-identical across them.
//   f32/f16/bf16: one weight row x 1-3 token rows in one pass for small batches; from 4 tokens on,
//     tiles of 2 weight rows x 4 token rows (even then odd 4-float chunks in two passes) over
//     interleaved activations, each weight vector loaded once per tile (f16/bf16 converted in
//     registers); per output the same two 4-lane chains reduced as (l0 + l1) + (l2 + l3);
//   q8_0/q4_0: integer block dot products against q8-per-32 activations, scaled per block;
//   q4_K/q6_K: integer dot products per sub-block against q8_K activations, scaled per super-block.
#pragma once
#include <cstddef>
#include <cstdint>

#include "activations.h"

namespace adakv {
namespace engine {

struct WeightView {
  int32_t type = 0;
  int32_t rows = 0;
  int32_t cols = 0;
  size_t rowBytes = 0;
  const uint8_t* data = nullptr;
};

// What the activations must carry for this weight type: 0 f32 only, 1 q8 per 32, 2 q8_K.
int32_t activationKind(int32_t type);

// out[t * outStride + o] for o in [rowBegin, rowEnd), t in [0, x.rows). Float weights read x.packed.
void matmulRows(const WeightView& w, const Activations& x, float* out, int32_t outStride, int32_t rowBegin,
                int32_t rowEnd);

}  // namespace engine
}  // namespace adakv
