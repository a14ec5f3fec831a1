// K/V storage as int8, with the numerics of the WASM pool's int8 blocks (allocator-wasm kv_format.h):
// symmetric, q = round(x / s) in [-127, 127], s = max|x| / 127 rounded up to binary16 (2-byte scales,
// as the WASM pool stores them); keys one scale per channel over the block's rows, values one scale
// per row. Element e of a block is row e / headDim, channel e % headDim.
//   keys buffer, block b at b * kvKeyWords():     [marker][ceil(headDim / 2) words of key scales][data]
//   values buffer, block b at b * kvValueWords(): [ceil(blockSize / 2) words of value scales][data]
//   scales: binary16, two per word (scale i in the low half of word i / 2 when i is even, else the
//   high half; an unused high half is 0)
//   data: the block's blockSize x headDim levels, 4 per word (element e in byte e % 4, two's complement)
// The marker is KV_ENCODED, or the residual slot holding the block's rows in f32: a head's partly
// filled last block waits there ([slot][blockSize][headDim] in residualKeys / residualValues) until
// it fills and is encoded (kv-encode). Prepended to every kernel that reads K/V through keyAt and
// valueAt (and to kv-encode, which uses the layout and kvPut), with kv-quantized.wgsl after it (the
// marker, the residual rows, keyAt and valueAt); `p` must hold blockSize and headDim.
alias KvWord = u32;
const KV_LEVELS: f32 = 127.0;
const KV_PER_WORD: u32 = 4u;

/** Channels one value scale covers: the whole row. */
fn kvGroupWidth() -> u32 { return p.headDim; }
fn kvValueScales() -> u32 { return p.blockSize; }
/** Element e's level (one byte of `word`, sign-extended) as f32. */
fn kvLevel(word: u32, e: u32) -> f32 { return f32(extractBits(bitcast<i32>(word), (e & 3u) * 8u, 8u)); }
/** Level q of element e, placed in its byte of a data word. */
fn kvPut(q: i32, e: u32) -> u32 { return (bitcast<u32>(q) & 0xffu) << ((e & 3u) * 8u); }
/** The value scale of element e of the block whose values start at word `base`: its row's. */
fn kvValueScale(base: u32, e: u32) -> f32 {
  let row = e / p.headDim;
  return bitcast<f32>(kvScaleBits(values[base + row / 2u], row));
}
