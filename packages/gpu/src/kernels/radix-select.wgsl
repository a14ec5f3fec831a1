// Prelude for 256-thread kernels that select on f32 scores without sorting: an order-preserving key
// of each float, and a radix select (four 8-bit histogram passes) for the k-th largest key of a range
// of the kernel's `scores` binding. Call it from uniform control flow (it holds barriers).
const WORKGROUP: u32 = 256u;
var<workgroup> histogram: array<atomic<u32>, 256>;
var<workgroup> chosen: array<u32, 2>; // digit, entries at or above it still wanted

/** Order-preserving unsigned key of an f32 (larger float, larger key); -0 counts as +0. */
fn sortKey(value: f32) -> u32 {
  var bits = bitcast<u32>(value);
  if (bits == 0x80000000u) { bits = 0u; }
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

/**
 * The k-th largest key of scores[start, start + count) (0 < k < count), and how many entries equal to
 * it belong to the top k: vec2u(threshold, wanted).
 */
fn radixSelect(t: u32, start: u32, count: u32, k: u32) -> vec2u {
  var threshold = 0u; // the k-th largest key, digit by digit
  var mask = 0u;
  var wanted = k;     // entries equal to the threshold so far that are still to be taken
  for (var digitPass = 0u; digitPass < 4u; digitPass++) {
    let shift = 24u - digitPass * 8u;
    atomicStore(&histogram[t], 0u);
    workgroupBarrier();
    for (var i = t; i < count; i += WORKGROUP) {
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
  return vec2u(threshold, wanted);
}

