// What int8 and int4 K/V storage share (appended to kv-int8.wgsl or kv-int4.wgsl, which define the
// levels, the layout words and kvValueScale): the marker, the residual rows of a head's partly filled
// last block, the binary16 scales, and keyAt / valueAt, the only way kernels read quantized K/V.
const KV_ENCODED: u32 = 0xffffffffu;

@group(0) @binding(7) var<storage, read> residualKeys: array<f32>;
@group(0) @binding(8) var<storage, read> residualValues: array<f32>;

fn kvDataWords() -> u32 { return (p.blockSize * p.headDim + KV_PER_WORD - 1u) / KV_PER_WORD; }
/** Words of a block's key scales (two binary16 per word) and of its value scales. */
fn kvKeyScaleWords() -> u32 { return (p.headDim + 1u) / 2u; }
fn kvValueScaleWords() -> u32 { return (kvValueScales() + 1u) / 2u; }
fn kvKeyWords() -> u32 { return 1u + kvKeyScaleWords() + kvDataWords(); }
fn kvValueWords() -> u32 { return kvValueScaleWords() + kvDataWords(); }

/**
 * The f32 bits of a binary16 scale h (>= 0, finite), in integers: unpack2x16float, or multiplying by
 * 2^-24, may flush the subnormal halves; as f32 every one of them is normal.
 */
fn kvHalfBits(h: u32) -> u32 {
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e != 0u) { return ((e + 112u) << 23u) | (m << 13u); }
  if (m == 0u) { return 0u; }
  let top = firstLeadingBit(m); // m x 2^-24 = 1.f x 2^(top - 24)
  return ((top + 103u) << 23u) | ((m << (23u - top)) & 0x7fffffu);
}

/** Scale i of the scales packed from word `word` on: the low half of word i / 2 when i is even, else the high. */
fn kvScaleBits(word: u32, i: u32) -> u32 { return kvHalfBits(extractBits(word, (i & 1u) * 16u, 16u)); }

fn keyAt(element: u32) -> f32 {
  let size = p.blockSize * p.headDim;
  let block = element / size;
  let e = element - block * size;
  let base = block * kvKeyWords();
  let marker = keys[base];
  if (marker != KV_ENCODED) { return residualKeys[marker * size + e]; }
  let c = e % p.headDim;
  return kvLevel(keys[base + 1u + kvKeyScaleWords() + e / KV_PER_WORD], e) * bitcast<f32>(kvScaleBits(keys[base + 1u + c / 2u], c));
}

fn valueAt(element: u32) -> f32 {
  let size = p.blockSize * p.headDim;
  let block = element / size;
  let e = element - block * size;
  let marker = keys[block * kvKeyWords()];
  if (marker != KV_ENCODED) { return residualValues[marker * size + e]; }
  let base = block * kvValueWords();
  return kvLevel(values[base + kvValueScaleWords() + e / KV_PER_WORD], e) * kvValueScale(base, e);
}
