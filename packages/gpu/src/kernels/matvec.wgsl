// out[o] = sum_i w[o][i] x[i]: each workgroup of 64 threads takes 64 / lanes rows, `lanes` threads per
// row striding it (lanes is a power of two the host picks so each thread sums at least ~32 products:
// short rows share a workgroup instead of leaving most threads idle), then a tree reduction per row
// in workgroup memory. Rows spill into a 2-D grid past 65,535 workgroups.
struct Params {
  inDim: u32,
  outDim: u32,
  weightOffset: u32, // floats into `w` where this matrix starts
  lanes: u32,        // threads per row: 1, 2, 4, ..., 64
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let lane = t % p.lanes;
  let o = (wg.x + wg.y * groups.x) * (64u / p.lanes) + t / p.lanes;
  var sum = 0.0;
  if (o < p.outDim) {
    let row = p.weightOffset + o * p.inDim;
    for (var i = lane; i < p.inDim; i += p.lanes) { sum += w[row + i] * x[i]; }
  }
  partial[t] = sum;
  workgroupBarrier();
  for (var width = p.lanes / 2u; width > 0u; width /= 2u) {
    if (lane < width) { partial[t] += partial[t + width]; }
    workgroupBarrier();
  }
  if (lane == 0u && o < p.outDim) { out[o] = partial[t]; }
}
