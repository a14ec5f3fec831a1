// Encodes int8 / int4 K/V blocks (the kv-int8 or kv-int4 prelude gives the layout and the levels),
// with exactly the WASM pool's arithmetic (allocator-wasm kv_format.cpp): per channel (keys) or per
// row group (values) the stored scale is the smallest binary16 >= fl(max|x| / levels) (at most 65504),
// s its value, q = round-half-even(fl(x / s)) clamped to the levels, 0 where s is 0; every division
// correctly rounded as IEEE f32 (WGSL allows 2.5 ulp for `/`) and every step on subnormals done in
// integers on the bits (GPUs may flush subnormal floats). One workgroup per job `[block, first source
// row, rows]`: the block's first `rows` rows are source rows `first ..` of `sourceKeys` / `sourceValues`
// (`[rows][headDim]` f32 bits: a residual slot, or staging rows), its scales are computed over those
// rows and its marker set to encoded. NaN inputs are left out of the scales, as the WASM pool's max does.
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
@group(0) @binding(4) var<storage, read> sourceKeys: array<u32>;    // [rows][headDim] f32 bits
@group(0) @binding(5) var<storage, read> sourceValues: array<u32>;

const WORKGROUP: u32 = 64u;
const F32_INFINITY: u32 = 0x7f800000u;
const HALF_MAX: u32 = 0x7bffu; // 65504

/**
 * a / b as IEEE f32 division rounds it (to nearest, ties to even), for f32 bits a >= 0 and b > 0
 * normal: the 24-bit significand and the biased exponent; (0, 0) when a is 0 or subnormal or the
 * quotient is not a normal float.
 */
fn quotient(ab: u32, bb: u32) -> vec2u {
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

/** |x| as f32 bits, 0 for NaN (left out of a peak, as the WASM pool's max leaves it out). */
fn magnitude(x: u32) -> u32 {
  let a = x & 0x7fffffffu;
  return select(a, 0u, a > F32_INFINITY);
}

/**
 * The binary16 stored for a scale: the smallest one >= fl(peak / levels), at most 65504 (peak: the
 * f32 bits of max|x|). Exactly kv_format.cpp's scaleHalf (round to nearest, then one up if below),
 * computed as a round up of the f32 quotient's bits.
 */
fn scaleHalf(peak: u32) -> u32 {
  if (peak == 0u) { return 0u; }
  if (peak >= F32_INFINITY) { return HALF_MAX; } // infinite: saturated
  if ((peak >> 23u) == 0u) {
    // a subnormal peak m x 2^-149: fl(peak / levels) is 0 when m / levels < 1/2 (levels are odd: no
    // ties), else a positive subnormal f32, which rounds up to the least binary16, 2^-24
    return select(0u, 1u, 2u * peak > u32(KV_LEVELS));
  }
  let q = quotient(peak, bitcast<u32>(KV_LEVELS));
  if (q.x == 0u) { return 1u; } // a subnormal f32 quotient (never 0: peak >= 2^-126, levels <= 127)
  let fraction = q.x & 0x7fffffu;
  let e = i32(q.y) - 112; // the binary16 exponent
  if (e >= 31) { return HALF_MAX; }
  if (e >= 1) {
    var h = (u32(e) << 10u) | (fraction >> 13u);
    if ((fraction & 0x1fffu) != 0u) { h = h + 1u; } // a carry into the exponent is right
    return min(h, HALF_MAX);
  }
  // a binary16 subnormal: the quotient is q.x x 2^(q.y - 150), in units of 2^-24 q.x >> (126 - q.y)
  let shift = u32(126 - i32(q.y)); // >= 14
  if (shift > 24u) { return 1u; }
  var h = q.x >> shift;
  if ((q.x & ((1u << shift) - 1u)) != 0u) { h = h + 1u; }
  return h;
}

/**
 * round-half-even(fl(x / s)) clamped to the levels (C's nearbyint of the f32 quotient), for f32 bits
 * x and s (s a stored scale: 0 or normal); 0 when s is 0.
 */
fn level(x: u32, s: u32) -> i32 {
  if (s == 0u) { return 0; }
  let a = x & 0x7fffffffu;
  var n = 0u;
  if (a == F32_INFINITY) {
    n = 0xffffffffu; // clamped
  } else {
    let q = quotient(a, s); // 0 for NaN and for a subnormal x (x / s < 2^-102 rounds to 0)
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
  }
  let limit = u32(KV_LEVELS);
  let m = i32(min(n, limit));
  return select(m, -m, (x >> 31u) == 1u);
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
  // scales: keys per channel over the rows, values per group of a row; two binary16 share a word, so
  // one invocation computes both of a word's scales and writes it whole (scales past the rows are 0)
  for (var w = t; w < kvKeyScaleWords(); w += WORKGROUP) {
    var word = 0u;
    for (var j = 0u; j < 2u; j++) {
      let c = 2u * w + j;
      if (c < d) {
        var peak = 0u;
        for (var r = 0u; r < rows; r++) { peak = max(peak, magnitude(sourceKeys[(first + r) * d + c])); }
        word = word | (scaleHalf(peak) << (16u * j));
      }
    }
    keys[kBase + 1u + w] = word;
  }
  let width = kvGroupWidth();
  let perRow = (d + width - 1u) / width;
  for (var w = t; w < kvValueScaleWords(); w += WORKGROUP) {
    var word = 0u;
    for (var j = 0u; j < 2u; j++) {
      let i = 2u * w + j;
      if (i < rows * perRow) {
        let r = i / perRow;
        let start = (i % perRow) * width;
        var peak = 0u;
        for (var c = start; c < min(d, start + width); c++) { peak = max(peak, magnitude(sourceValues[(first + r) * d + c])); }
        word = word | (scaleHalf(peak) << (16u * j));
      }
    }
    values[vBase + w] = word;
  }
  if (t == 0u) { keys[kBase] = KV_ENCODED; }
  storageBarrier(); // the scales are visible to the whole workgroup
  // the levels divide by the stored (rounded up) scales, so decoding gives back q x stored
  let dataKeys = kBase + 1u + kvKeyScaleWords();
  let dataValues = vBase + kvValueScaleWords();
  for (var w = t; w < kvDataWords(); w += WORKGROUP) {
    var kw = 0u;
    var vw = 0u;
    for (var j = 0u; j < KV_PER_WORD; j++) {
      let e = w * KV_PER_WORD + j;
      let r = e / d;
      if (r < rows) {
        let c = e % d;
        let at = (first + r) * d + c;
        let vi = r * perRow + c / width;
        kw = kw | kvPut(level(sourceKeys[at], kvScaleBits(keys[kBase + 1u + c / 2u], c)), e);
        vw = vw | kvPut(level(sourceValues[at], kvScaleBits(values[vBase + vi / 2u], vi)), e);
      }
    }
    keys[dataKeys + w] = kw;
    values[dataValues + w] = vw;
  }
}
