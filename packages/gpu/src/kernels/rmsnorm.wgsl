// out = weight * (x / sqrt(mean(x^2) + eps)) for each of `rows` rows of `dim`, one workgroup per
// row (the grid spills into y past 65535 rows), as llama2.c computes it.
struct Params {
  dim: u32,
  weightOffset: u32,
  eps: f32,
  rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wg.x + wg.y * groups.x;
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var squares = 0.0;
  for (var i = t; i < p.dim; i += WORKGROUP) { squares += x[base + i] * x[base + i]; }
  let scale = 1.0 / sqrt(reduce(t, squares, false) / f32(p.dim) + p.eps);
  for (var i = t; i < p.dim; i += WORKGROUP) { out[base + i] = weight[p.weightOffset + i] * (scale * x[base + i]); }
}
