// Ada-KV's per-head counts: how many of the top `k` scores of a layer (all heads flattened) each head
// holds, found by a radix select on the scores' bits (four 8-bit passes, no sort). Ties at the
// threshold go to the lower head first (then the lower token, which does not change a count), as the
// core reference breaks them. One workgroup; -0 counts as +0.
struct Params {
  heads: u32,
  length: u32,
  k: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;            // [heads][length]
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>; // [heads]; zeroed by the caller

var<workgroup> equalPerHead: array<atomic<u32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let total = p.heads * p.length;
  if (p.k == 0u) { return; }
  if (p.k >= total) {
    for (var h = t; h < p.heads; h += WORKGROUP) { atomicStore(&counts[h], p.length); }
    return;
  }
  let selected = radixSelect(t, 0u, total, p.k);
  let threshold = selected.x;
  let wanted = selected.y;
  // `wanted` of the entries equal to the k-th largest key are taken, lower heads first
  atomicStore(&equalPerHead[t], 0u);
  workgroupBarrier();
  for (var i = t; i < total; i += WORKGROUP) {
    let key = sortKey(scores[i]);
    let head = i / p.length;
    if (key > threshold) { atomicAdd(&counts[head], 1u); }
    if (key == threshold) { atomicAdd(&equalPerHead[head], 1u); }
  }
  workgroupBarrier();
  if (t == 0u) {
    var left = wanted;
    for (var h = 0u; h < p.heads; h++) {
      let take = min(left, atomicLoad(&equalPerHead[h]));
      atomicAdd(&counts[h], take);
      left -= take;
    }
  }
}
