// out[o] = sum_i w[o][i] x[i]: one workgroup per output row; 64 threads stride the row and reduce
// their partial sums in workgroup memory. Rows spill into a 2-D grid past 65,535.
struct Params {
  inDim: u32,
  outDim: u32,
  weightOffset: u32, // floats into `w` where this matrix starts
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let o = wg.x + wg.y * groups.x;
  var sum = 0.0;
  if (o < p.outDim) {
    let row = p.weightOffset + o * p.inDim;
    for (var i = t; i < p.inDim; i += WORKGROUP) { sum += w[row + i] * x[i]; }
  }
  let total = reduce(t, sum, false);
  if (t == 0u && o < p.outDim) { out[o] = total; }
}
