// Encodes int8 / int4 K/V blocks (the kv-int8 or kv-int4 prelude gives the layout and the levels),
// with exactly the WASM pool's arithmetic (allocator-wasm kv_format.cpp): per channel (keys) or per
// row group (values) s = max|x| / levels, q = round-half-even(x / s) clamped to the levels, 0 where
// s is 0; every division correctly rounded as IEEE f32 (WGSL allows 2.5 ulp for `/`, so it is done
// in integers). One workgroup per job `[block, first source row, rows]`: the block's first `rows` rows
// are source rows `first ..` of `sourceKeys` / `sourceValues` (`[rows][headDim]` f32: a residual
// slot, or staging rows), its scales are computed over those rows and its marker set to encoded.
// Zero and subnormal inputs (which GPUs may flush) quantize to 0.
struct Params {
  headDim: u32,
  blockSize: u32,
  jobs: u32,
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> values: array<u32>;
@group(0) @binding(3) var<storage, read> jobs: array<u32>;          // [jobs][3]
@group(0) @binding(4) var<storage, read> sourceKeys: array<f32>;    // [rows][headDim]
@group(0) @binding(5) var<storage, read> sourceValues: array<f32>;

const WORKGROUP: u32 = 64u;

/**
 * a / b as IEEE f32 division rounds it (to nearest, ties to even), for a >= 0 and b > 0 normal: the
 * 24-bit significand and the biased exponent; (0, 0) when a is 0 or subnormal or the quotient is not
 * a normal float (never the case for a scale or a level here).
 */
fn quotient(a: f32, b: f32) -> vec2u {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let ea = ab >> 23u;
  let eb = bb >> 23u;
  if (ea == 0u || eb == 0u || ea == 255u || eb == 255u) { return vec2u(0u); }
  var ma = (ab & 0x7fffffu) | 0x800000u;
  let mb = (bb & 0x7fffffu) | 0x800000u;
  var e = i32(ea) - i32(eb) + 127;
  if (ma < mb) {
    ma = ma << 1u;
    e = e - 1;
  }
  // long division: 25 quotient bits (24 + a guard bit), the remainder as the sticky bit
  var r = ma;
  var q = 0u;
  for (var i = 0u; i < 25u; i++) {
    q = q << 1u;
    if (r >= mb) {
      r = r - mb;
      q = q | 1u;
    }
    r = r << 1u;
  }
  var m = q >> 1u;
  if ((q & 1u) == 1u && (r != 0u || (m & 1u) == 1u)) { m = m + 1u; }
  if (m == 0x1000000u) {
    m = 0x800000u;
    e = e + 1;
  }
  if (e <= 0 || e >= 255) { return vec2u(0u); }
  return vec2u(m, u32(e));
}

/** fl(a / b) for a >= 0, b > 0: a scale. */
fn divide(a: f32, b: f32) -> f32 {
  let q = quotient(a, b);
  if (q.x == 0u) { return 0.0; }
  return bitcast<f32>((q.y << 23u) | (q.x & 0x7fffffu));
}

/** round-half-even(fl(x / s)) clamped to the levels (C's nearbyint of the f32 quotient); 0 when s is 0. */
fn level(x: f32, s: f32) -> i32 {
  if (s == 0.0) { return 0; }
  let q = quotient(abs(x), s);
  var n = 0u;
  if (q.x != 0u) {
    // the quotient is q.x * 2^(q.y - 150): round it to an integer in the integers
    let shift = 150u - min(q.y, 150u);
    if (shift == 0u) {
      n = 0xffffffffu;
    } else if (shift <= 24u) {
      n = q.x >> shift;
      let rest = q.x & ((1u << shift) - 1u);
      let halfway = 1u << (shift - 1u);
      if (rest > halfway || (rest == halfway && (n & 1u) == 1u)) { n = n + 1u; }
    } // shift > 24: below one half, 0
  }
  let limit = u32(KV_LEVELS);
  let magnitude = i32(min(n, limit));
  return select(magnitude, -magnitude, x < 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let job = wg.x + wg.y * groups.x;
  if (job >= p.jobs) { return; }
  let block = jobs[job * 3u];
  let first = jobs[job * 3u + 1u];
  let rows = min(jobs[job * 3u + 2u], p.blockSize);
  let d = p.headDim;
  let kBase = block * kvKeyWords();
  let vBase = block * kvValueWords();
  if (kBase + kvKeyWords() > arrayLength(&keys) || vBase + kvValueWords() > arrayLength(&values) || (first + rows) * d > arrayLength(&sourceKeys)) { return; }
  // scales: keys per channel over the rows, values per group of a row
  for (var c = t; c < d; c += WORKGROUP) {
    var peak = 0.0;
    for (var r = 0u; r < rows; r++) { peak = max(peak, abs(sourceKeys[(first + r) * d + c])); }
    keys[kBase + 1u + c] = bitcast<u32>(divide(peak, KV_LEVELS));
  }
  let width = kvGroupWidth();
  let perRow = (d + width - 1u) / width;
  for (var i = t; i < rows * perRow; i += WORKGROUP) {
    let r = i / perRow;
    let start = (i % perRow) * width;
    var peak = 0.0;
    for (var c = start; c < min(d, start + width); c++) { peak = max(peak, abs(sourceValues[(first + r) * d + c])); }
    values[vBase + i] = bitcast<u32>(divide(peak, KV_LEVELS));
  }
  if (t == 0u) { keys[kBase] = KV_ENCODED; }
  storageBarrier(); // the scales are visible to the whole workgroup
  let dataKeys = kBase + 1u + d;
  let dataValues = vBase + kvValueScales();
  for (var w = t; w < kvDataWords(); w += WORKGROUP) {
    var kw = 0u;
    var vw = 0u;
    for (var j = 0u; j < KV_PER_WORD; j++) {
      let e = w * KV_PER_WORD + j;
      let r = e / d;
      if (r < rows) {
        let c = e % d;
        let at = (first + r) * d + c;
        kw = kw | kvPut(level(sourceKeys[at], bitcast<f32>(keys[kBase + 1u + c])), e);
        vw = vw | kvPut(level(sourceValues[at], bitcast<f32>(values[vBase + r * perRow + c / width])), e);
      }
    }
    keys[dataKeys + w] = kw;
    values[dataValues + w] = vw;
  }
}
