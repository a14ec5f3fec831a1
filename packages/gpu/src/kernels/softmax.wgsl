// Row-wise softmax in place over `x` [rows][length], numerically stable (the row max is subtracted
// first). One workgroup per row; rows spill into a 2-D grid past 65,535.
struct Params {
  rows: u32,
  length: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wg.x + wg.y * groups.x;
  if (row >= p.rows) { return; }
  let start = row * p.length;
  var localMax = -3.402823e38;
  for (var i = t; i < p.length; i += WORKGROUP) { localMax = max(localMax, x[start + i]); }
  let rowMax = reduce(t, localMax, true);
  var localSum = 0.0;
  for (var i = t; i < p.length; i += WORKGROUP) {
    let e = exp(x[start + i] - rowMax);
    x[start + i] = e;
    localSum += e;
  }
  let rowSum = reduce(t, localSum, false);
  for (var i = t; i < p.length; i += WORKGROUP) { x[start + i] = x[start + i] / rowSum; }
}
