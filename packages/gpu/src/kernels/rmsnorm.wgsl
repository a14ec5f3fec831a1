// out = weight * (x / sqrt(mean(x^2) + eps)), one workgroup, as llama2.c computes it.
struct Params {
  dim: u32,
  weightOffset: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32) {
  var squares = 0.0;
  for (var i = t; i < p.dim; i += 64u) { squares += x[i] * x[i]; }
  partial[t] = squares;
  workgroupBarrier();
  for (var width = 32u; width > 0u; width /= 2u) {
    if (t < width) { partial[t] += partial[t + width]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(partial[0] / f32(p.dim) + p.eps);
  for (var i = t; i < p.dim; i += 64u) { out[i] = weight[p.weightOffset + i] * (scale * x[i]); }
}
