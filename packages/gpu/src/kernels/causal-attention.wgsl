// Prefill attention: softmax(q K^T / sqrt(d)) V for every prompt token over the keys at or before it,
// one workgroup per (query head, token); G query heads share a KV head. Keys are visited in tiles of
// 64 (one logit per thread) with an online softmax, so any prompt length runs in fixed memory; each
// thread accumulates up to 4 output dimensions (head dim <= 256).
struct Params {
  headDim: u32,
  queryHeads: u32,
  kvHeads: u32,
  tokens: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> queries: array<f32>; // [tokens][queryHeads][headDim]
@group(0) @binding(2) var<storage, read> keys: array<f32>;    // [tokens][kvHeads][headDim]
@group(0) @binding(3) var<storage, read> values: array<f32>;  // [tokens][kvHeads][headDim]
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [tokens][queryHeads][headDim]

const LOWEST: f32 = -0x1.fffffep+127f;
var<workgroup> weights: array<f32, 64>;
var<workgroup> query: array<f32, 256>; // the workgroup's query row, read once

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let head = wg.x;
  let token = wg.y;
  if (head >= p.queryHeads || token >= p.tokens) { return; }
  let kvHead = head / (p.queryHeads / p.kvHeads);
  let qBase = (token * p.queryHeads + head) * p.headDim;
  let kvStride = p.kvHeads * p.headDim;
  for (var d = t; d < p.headDim; d += WORKGROUP) { query[d] = queries[qBase + d]; }
  workgroupBarrier();
  var m = LOWEST;
  var sum = 0.0;
  var acc = vec4f(0.0);
  for (var tile = 0u; tile <= token; tile += WORKGROUP) {
    let key = tile + t;
    var logit = LOWEST;
    if (key <= token) {
      let kBase = key * kvStride + kvHead * p.headDim;
      var dot = 0.0;
      for (var d = 0u; d < p.headDim; d++) { dot += query[d] * keys[kBase + d]; }
      logit = dot * p.scale;
    }
    let next = max(m, reduce(t, logit, true));
    let weight = select(0.0, exp(logit - next), key <= token);
    weights[t] = weight;
    let correction = exp(m - next);
    sum = sum * correction + reduce(t, weight, false); // the reduce's barriers also publish `weights`
    acc *= correction;
    let count = min(WORKGROUP, token + 1u - tile);
    for (var s = 0u; s < count; s++) {
      let vBase = (tile + s) * kvStride + kvHead * p.headDim;
      for (var j = 0u; j < 4u; j++) {
        let d = t + j * WORKGROUP;
        if (d < p.headDim) { acc[j] += weights[s] * values[vBase + d]; }
      }
    }
    workgroupBarrier(); // everyone is done with `weights` before the next tile overwrites it
    m = next;
  }
  let outBase = (token * p.queryHeads + head) * p.headDim;
  for (var j = 0u; j < 4u; j++) {
    let d = t + j * WORKGROUP;
    if (d < p.headDim) { out[outBase + d] = acc[j] / sum; }
  }
}
