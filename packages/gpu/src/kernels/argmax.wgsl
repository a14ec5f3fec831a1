// The index of the largest of each row of `x` [rows][length] (greedy decoding over logits, one row
// per sequence of a batch); ties go to the lower index. One workgroup per row: each thread scans a
// stride, then a tree reduction of (value, index) pairs.
// A NaN or infinity anywhere gives 0xffffffff: broken logits must not pass for token 0. WGSL may
// assume finite floats, so the check reads the exponent bits.
struct Params {
  length: u32,
  rows: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // [rows][length]
@group(0) @binding(2) var<storage, read_write> result: array<u32>; // [rows]

const WORKGROUP: u32 = 256u;
var<workgroup> bestValue: array<f32, 256>;
var<workgroup> bestIndex: array<u32, 256>;
var<workgroup> nonFinite: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let rowIndex = wg.x;
  if (rowIndex >= p.rows) { return; }
  let base = rowIndex * p.length;
  var value = -3.402823e38;
  var index = 0xffffffffu;
  var bad = 0u;
  for (var i = t; i < p.length; i += WORKGROUP) {
    let v = x[base + i];
    if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) { bad = 1u; }
    if (index == 0xffffffffu || v > value) { value = v; index = i; } // strides ascend: ties keep the first
  }
  if (bad != 0u) { atomicOr(&nonFinite, 1u); }
  bestValue[t] = value;
  bestIndex[t] = index;
  workgroupBarrier();
  for (var width = WORKGROUP / 2u; width > 0u; width /= 2u) {
    if (t < width) {
      let otherValue = bestValue[t + width];
      let otherIndex = bestIndex[t + width];
      let better = otherIndex != 0xffffffffu &&
        (bestIndex[t] == 0xffffffffu || otherValue > bestValue[t] || (otherValue == bestValue[t] && otherIndex < bestIndex[t]));
      if (better) { bestValue[t] = otherValue; bestIndex[t] = otherIndex; }
    }
    workgroupBarrier();
  }
  if (t == 0u) { result[rowIndex] = select(bestIndex[0], 0xffffffffu, atomicLoad(&nonFinite) != 0u); }
}
