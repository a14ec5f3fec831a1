// Per-head top-k selection: each head keeps the indices of its `caps[h]` best scores, written in
// ascending index order (what compaction gathers). One workgroup per head: a radix select on the
// scores' bits (four 8-bit histogram passes, no sort) finds the k-th best key, then an ordered pass
// with workgroup prefix sums writes every index above it and the lowest-indexed ties at it (ties go
// to the lower token index, as the core reference breaks them). -0 counts as +0. Heads are ragged:
// head h owns [offsets[h], offsets[h + 1]) of `scores`, and the same range of `kept`.
struct Params {
  heads: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;       // [heads + 1]
@group(0) @binding(3) var<storage, read> caps: array<u32>;          // [heads]
@group(0) @binding(4) var<storage, read_write> kept: array<u32>;    // first min(cap, length) of each range

var<workgroup> scan: array<u32, 256>;

/** Inclusive prefix sum of `value` over the workgroup (Hillis-Steele); scan[255] holds the total. */
fn inclusiveScan(t: u32, value: u32) -> u32 {
  workgroupBarrier(); // earlier readers of `scan` are done
  scan[t] = value;
  workgroupBarrier();
  for (var offset = 1u; offset < WORKGROUP; offset *= 2u) {
    var add = 0u;
    if (t >= offset) { add = scan[t - offset]; }
    workgroupBarrier();
    scan[t] += add;
    workgroupBarrier();
  }
  return scan[t];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  if (h >= p.heads) { return; }
  let start = offsets[h];
  let length = offsets[h + 1u] - start;
  let k = min(caps[h], length);
  if (k == 0u) { return; }
  if (k == length) {
    for (var i = t; i < length; i += WORKGROUP) { kept[start + i] = i; }
    return;
  }
  let selected = radixSelect(t, start, length, k);
  let threshold = selected.x;
  let wanted = selected.y;
  // ordered pass: every key above the threshold, and the first `wanted` keys equal to it
  var equalSeen = 0u;
  var written = 0u;
  for (var base = 0u; base < length; base += WORKGROUP) {
    let i = base + t;
    var key = 0u;
    if (i < length) { key = sortKey(scores[start + i]); }
    let equal = u32(i < length && key == threshold);
    let equalBefore = inclusiveScan(t, equal) - equal;
    let equalInChunk = scan[WORKGROUP - 1u];
    let take = (i < length && key > threshold) || (equal == 1u && equalSeen + equalBefore < wanted);
    let rank = inclusiveScan(t, u32(take)) - u32(take);
    if (take) { kept[start + written + rank] = i; }
    written += scan[WORKGROUP - 1u];
    equalSeen += equalInChunk;
  }
}
