// Flash-decoding, pass 2: one workgroup per query head combines its splits' partial softmax states
// (max, sum, weighted V) into softmax(q K^T / sqrt(d)) V. A head with no rows gets zeros.
struct Params {
  headDim: u32,
  splits: u32,
  queryHeads: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>; // [queryHeads][splits][headDim + 2]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [queryHeads][headDim]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let q = wg.x;
  if (q >= p.queryHeads) { return; }
  let stride = p.headDim + 2u;
  var m = -0x1.fffffep+127f;
  for (var s = 0u; s < p.splits; s++) {
    let base = (q * p.splits + s) * stride;
    if (partials[base + 1u] > 0.0) { m = max(m, partials[base]); }
  }
  var l = 0.0;
  for (var s = 0u; s < p.splits; s++) {
    let base = (q * p.splits + s) * stride;
    if (partials[base + 1u] > 0.0) { l += partials[base + 1u] * exp(partials[base] - m); }
  }
  for (var d = t; d < p.headDim; d += 64u) {
    var acc = 0.0;
    for (var s = 0u; s < p.splits; s++) {
      let base = (q * p.splits + s) * stride;
      if (partials[base + 1u] > 0.0) { acc += partials[base + 2u + d] * exp(partials[base] - m); }
    }
    out[q * p.headDim + d] = select(0.0, acc / l, l > 0.0);
  }
}
