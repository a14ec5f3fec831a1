// Activations quantized for integer dot products with quantized weights, once per matmul input:
//   q8 blocks of 32 (for q8_0 and q4_0 weights): d = max|x| / 127, q = nearest(x / d), as llama.cpp's
//     quantize_row_q8_0 except that d stays f32 (llama.cpp rounds it to f16);
//   q8_K super-blocks of 256 (for q4_K and q6_K weights): one d per 256, plus the sum of q over each
//     32 (the q4_K mins need them), as llama.cpp's block_q8_K.
// Quantized values are stored widened to int16, so the kernels feed them straight to i32x4.dot_i16x8.
// For float weights and more than one row, the rows are also interleaved 4 floats at a time
// ([cols / 4][rows][4]): a tile of token rows then reads its activations for one step of 4 columns
// from one pointer at constant offsets, and moves on by one stride (see matmul.cpp).
#pragma once
#include <cstdint>

namespace adakv {
namespace engine {

struct Activations {
  const float* values = nullptr;  // [rows][cols] f32
  int32_t rows = 0;
  int32_t cols = 0;
  // values interleaved: [cols / 4][rows][4] (the cols % 4 last columns only in `values`); for one row
  // that is `values` itself
  const float* packed = nullptr;
  // q8 per 32, when prepared
  int16_t* q32 = nullptr;   // [rows][cols]
  float* d32 = nullptr;     // [rows][cols / 32]
  // q8_K per 256, when prepared
  int16_t* q256 = nullptr;  // [rows][cols]
  float* d256 = nullptr;    // [rows][cols / 256]
  int32_t* sums = nullptr;  // [rows][cols / 32]: sum of q256 over each 32
};

// values [rows][cols] into packed [cols / 4][rows][4].
void packRows(const float* values, int32_t rows, int32_t cols, float* packed);
// One row; cols a multiple of 32.
void quantizeRowQ8(const float* x, int32_t cols, int16_t* q, float* d);
// One row; cols a multiple of 256.
void quantizeRowQ8K(const float* x, int32_t cols, int16_t* q, float* d, int32_t* sums);

}  // namespace engine
}  // namespace adakv
