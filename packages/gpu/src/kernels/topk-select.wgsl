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

const WORKGROUP: u32 = 256u;
var<workgroup> histogram: array<atomic<u32>, 256>;
var<workgroup> chosen: array<u32, 2>; // digit, entries at or above it still wanted
var<workgroup> scan: array<u32, 256>;

/** Order-preserving unsigned key of an f32 (larger float, larger key). */
fn sortKey(value: f32) -> u32 {
  var bits = bitcast<u32>(value);
  if (bits == 0x80000000u) { bits = 0u; }
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

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
  var threshold = 0u; // the k-th best key, digit by digit
  var mask = 0u;
  var wanted = k;     // entries equal to the threshold so far that are still to be taken
  for (var digitPass = 0u; digitPass < 4u; digitPass++) {
    let shift = 24u - digitPass * 8u;
    atomicStore(&histogram[t], 0u);
    workgroupBarrier();
    for (var i = t; i < length; i += WORKGROUP) {
      let key = sortKey(scores[start + i]);
      if ((key & mask) == threshold) { atomicAdd(&histogram[(key >> shift) & 255u], 1u); }
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
    threshold = threshold | (chosen[0] << shift);
    mask = mask | (255u << shift);
    wanted = chosen[1];
  }
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
