// K/V storage as int4, with the numerics of the WASM pool's int4 blocks (allocator-wasm kv_format.h):
// symmetric, q = round(x / s) in [-7, 7] stored as q + 8, s = max|x| / 7 rounded up to binary16
// (2-byte scales, as the WASM pool stores them); keys one scale per channel over the block's rows,
// values one scale per 32 channels of a row (the last group may be narrower). Element e of a block is
// row e / headDim, channel e % headDim.
//   keys buffer, block b at b * kvKeyWords():     [marker][ceil(headDim / 2) words of key scales][data]
//   values buffer, block b at b * kvValueWords(): [ceil(kvValueScales() / 2) words of value scales][data]
//     (kvValueScales() = blockSize x ceil(headDim / 32), row r's group g at r x ceil(headDim / 32) + g)
//   scales: binary16, two per word (scale i in the low half of word i / 2 when i is even, else the
//   high half; an unused high half is 0)
//   data: the block's blockSize x headDim levels, 8 nibbles per word (element e in nibble e % 8)
// The marker is KV_ENCODED, or the residual slot holding the block's rows in f32: a head's partly
// filled last block waits there ([slot][blockSize][headDim] in residualKeys / residualValues) until
// it fills and is encoded (kv-encode). Prepended to every kernel that reads K/V through keyAt and
// valueAt (and to kv-encode, which uses the layout and kvPut), with kv-quantized.wgsl after it (the
// marker, the residual rows, keyAt and valueAt); `p` must hold blockSize and headDim.
alias KvWord = u32;
const KV_LEVELS: f32 = 7.0;
const KV_PER_WORD: u32 = 8u;
const KV_GROUP: u32 = 32u;

/** Channels one value scale covers. */
fn kvGroupWidth() -> u32 { return KV_GROUP; }
fn kvGroups() -> u32 { return (p.headDim + KV_GROUP - 1u) / KV_GROUP; }
fn kvValueScales() -> u32 { return p.blockSize * kvGroups(); }
/** Element e's level (its nibble of `word`, minus 8) as f32. */
fn kvLevel(word: u32, e: u32) -> f32 { return f32(i32(extractBits(word, (e & 7u) * 4u, 4u)) - 8); }
/** Level q of element e, placed in its nibble of a data word. */
fn kvPut(q: i32, e: u32) -> u32 { return u32(q + 8) << ((e & 7u) * 4u); }
/** The value scale of element e of the block whose values start at word `base`: its row's group's. */
fn kvValueScale(base: u32, e: u32) -> f32 {
  let row = e / p.headDim;
  let i = row * kvGroups() + (e - row * p.headDim) / KV_GROUP;
  return bitcast<f32>(kvScaleBits(values[base + i / 2u], i));
}
