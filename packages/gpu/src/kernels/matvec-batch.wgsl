// matvec for a batch: out[r][o] = sum_i w[o][i] x[r][i] for `rows` input vectors (one per sequence of a
// decode batch). Threads and workgroups as in matvec.wgsl (64 / lanes weight rows per workgroup, `lanes`
// threads striding each), but every thread keeps two vec4 accumulators, so each weight read serves up
// to 8 vectors (more loop over chunks of 8, re-reading the thread's stretch of the weight row). Each
// output is the same products summed in the same order as matvec.wgsl sums them (a lane's stride, then
// the same tree), so a vector's result does not depend on the batch it came with. (A separate kernel:
// folding this into matvec.wgsl made its one-vector path 2-5x slower on SwiftShader.)
struct Params {
  inDim: u32,
  outDim: u32,
  weightOffset: u32, // floats into `w` where this matrix starts
  lanes: u32,        // threads per weight row: 1, 2, 4, ..., 64
  rows: u32,         // input vectors
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;          // [rows][inDim]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // [rows][outDim]

var<workgroup> partialLow: array<vec4f, 64>;  // vectors 0..3 of a chunk
var<workgroup> partialHigh: array<vec4f, 64>; // vectors 4..7

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let lane = t % p.lanes;
  let o = (wg.x + wg.y * groups.x) * (64u / p.lanes) + t / p.lanes;
  let row = p.weightOffset + o * p.inDim;
  for (var first = 0u; first < p.rows; first += 8u) {
    let count = min(8u, p.rows - first);
    let last = first + count - 1u; // vectors past the batch read its last one, and are never written
    let x0 = first * p.inDim;
    let x1 = min(first + 1u, last) * p.inDim;
    let x2 = min(first + 2u, last) * p.inDim;
    let x3 = min(first + 3u, last) * p.inDim;
    let x4 = min(first + 4u, last) * p.inDim;
    let x5 = min(first + 5u, last) * p.inDim;
    let x6 = min(first + 6u, last) * p.inDim;
    let x7 = min(first + 7u, last) * p.inDim;
    var low = vec4f(0.0);
    var high = vec4f(0.0);
    if (o < p.outDim) {
      for (var i = lane; i < p.inDim; i += p.lanes) {
        let weight = w[row + i];
        low += weight * vec4f(x[x0 + i], x[x1 + i], x[x2 + i], x[x3 + i]);
        if (count > 4u) { high += weight * vec4f(x[x4 + i], x[x5 + i], x[x6 + i], x[x7 + i]); }
      }
    }
    partialLow[t] = low;
    partialHigh[t] = high;
    workgroupBarrier();
    for (var width = p.lanes / 2u; width > 0u; width /= 2u) {
      if (lane < width) {
        partialLow[t] += partialLow[t + width];
        partialHigh[t] += partialHigh[t + width];
      }
      workgroupBarrier();
    }
    if (lane == 0u && o < p.outDim) {
      for (var r = 0u; r < count; r++) {
        out[(first + r) * p.outDim + o] = select(partialHigh[t][r % 4u], partialLow[t][r % 4u], r < 4u);
      }
    }
    workgroupBarrier(); // the next chunk reuses the partial sums
  }
}
