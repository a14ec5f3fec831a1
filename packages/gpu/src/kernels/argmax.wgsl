// The index of the largest of `x` [length] (greedy decoding over logits); ties go to the lower
// index. One workgroup: each thread scans a stride, then a tree reduction of (value, index) pairs.
struct Params {
  length: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<u32>; // [1]

const WORKGROUP: u32 = 256u;
var<workgroup> bestValue: array<f32, 256>;
var<workgroup> bestIndex: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  var value = -3.402823e38;
  var index = 0xffffffffu;
  for (var i = t; i < p.length; i += WORKGROUP) {
    let v = x[i];
    if (index == 0xffffffffu || v > value) { value = v; index = i; } // strides ascend: ties keep the first
  }
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
  if (t == 0u) { result[0] = bestIndex[0]; }
}
