// The elementwise and row operations of a LLaMA layer, f32 in and out.
#pragma once
#include <cstdint>

namespace adakv {
namespace engine {

// out[t] = weight * x[t] / sqrt(mean(x[t]^2) + eps) for `rows` rows of `dim`; the mean in f64.
void rmsnorm(float* out, const float* x, const float* weight, int32_t rows, int32_t dim, float eps);

// llama2.c's RoPE: adjacent pairs (2j, 2j + 1) of each of `heads` heads of one token's vector rotate by
// the angle whose cosine and sine are cos[j], sin[j] (the model's table row for the token's position).
void rope(float* vector, int32_t heads, int32_t headDim, const float* cos, const float* sin);

// NeoX (rotate-half) RoPE: pairs (j, j + headDim / 2) rotate by the same angles cos[j], sin[j]; the same
// arithmetic per pair as rope() (v0 * c - v1 * s, v0 * s + v1 * c, never fused), 4 pairs per vector.
void ropeNeox(float* vector, int32_t heads, int32_t headDim, const float* cos, const float* sin);

// gate = silu(gate) * up = gate / (1 + e^-gate) * up, over `count` values.
void swiglu(float* gate, const float* up, int32_t count);

// out += a * x over `count` values.
void axpy(float* out, float a, const float* x, int32_t count);

// In place softmax over `count` values (max subtracted, 4-lane exponentials, divided by their sum).
void softmax(float* x, int32_t count);

// Index of the largest value; the first one on ties; NaN is never the largest.
int32_t argmax(const float* x, int32_t count);
// argmax() when every value is finite, else -1 (greedy decode's report of a broken model).
int32_t finiteArgmax(const float* x, int32_t count);

// a += b over `count` values.
void addInPlace(float* a, const float* b, int32_t count);

// out = x . y over `count` values, 4 lanes, (l0 + l1) + (l2 + l3), then the tail in order.
float dot(const float* x, const float* y, int32_t count);

}  // namespace engine
}  // namespace adakv
