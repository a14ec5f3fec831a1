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

const WORKGROUP: u32 = 256u;
var<workgroup> histogram: array<atomic<u32>, 256>;
var<workgroup> chosen: array<u32, 2>; // digit, entries above it still wanted
var<workgroup> equalPerHead: array<atomic<u32>, 256>;

/** Order-preserving unsigned key of an f32 (larger float, larger key). */
fn sortKey(value: f32) -> u32 {
  var bits = bitcast<u32>(value);
  if (bits == 0x80000000u) { bits = 0u; }
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let total = p.heads * p.length;
  if (p.k == 0u) { return; }
  if (p.k >= total) {
    for (var h = t; h < p.heads; h += WORKGROUP) { atomicStore(&counts[h], p.length); }
    return;
  }
  var prefix = 0u;     // the threshold key's bits found so far
  var prefixMask = 0u;
  var wanted = p.k;    // how many entries at or above the threshold are still to be placed
  for (var digitPass = 0u; digitPass < 4u; digitPass++) {
    let shift = 24u - digitPass * 8u;
    atomicStore(&histogram[t], 0u);
    workgroupBarrier();
    for (var i = t; i < total; i += WORKGROUP) {
      let key = sortKey(scores[i]);
      if ((key & prefixMask) == prefix) { atomicAdd(&histogram[(key >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (t == 0u) {
      var above = 0u;
      var digit = 255u;
      loop {
        let here = atomicLoad(&histogram[digit]);
        if (above + here >= wanted) { break; }
        above += here;
        if (digit == 0u) { break; }
        digit -= 1u;
      }
      chosen[0] = digit;
      chosen[1] = wanted - above;
    }
    workgroupBarrier();
    prefix = prefix | (chosen[0] << shift);
    prefixMask = prefixMask | (255u << shift);
    wanted = chosen[1];
    workgroupBarrier();
  }
  // prefix is now the k-th largest key; `wanted` entries equal to it are taken, lower heads first
  atomicStore(&equalPerHead[t], 0u);
  workgroupBarrier();
  for (var i = t; i < total; i += WORKGROUP) {
    let key = sortKey(scores[i]);
    let head = i / p.length;
    if (key > prefix) { atomicAdd(&counts[head], 1u); }
    if (key == prefix) { atomicAdd(&equalPerHead[head], 1u); }
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
