// What int8 and int4 K/V storage share (appended to kv-int8.wgsl or kv-int4.wgsl, which define the
// levels, the layout words and kvValueScale): the marker, the residual rows of a head's partly filled
// last block, and keyAt / valueAt, the only way kernels read quantized K/V.
const KV_ENCODED: u32 = 0xffffffffu;

@group(0) @binding(7) var<storage, read> residualKeys: array<f32>;
@group(0) @binding(8) var<storage, read> residualValues: array<f32>;

fn kvDataWords() -> u32 { return (p.blockSize * p.headDim + KV_PER_WORD - 1u) / KV_PER_WORD; }
fn kvKeyWords() -> u32 { return 1u + p.headDim + kvDataWords(); }
fn kvValueWords() -> u32 { return kvValueScales() + kvDataWords(); }

fn keyAt(element: u32) -> f32 {
  let size = p.blockSize * p.headDim;
  let block = element / size;
  let e = element - block * size;
  let base = block * kvKeyWords();
  let marker = keys[base];
  if (marker != KV_ENCODED) { return residualKeys[marker * size + e]; }
  return kvLevel(keys[base + 1u + p.headDim + e / KV_PER_WORD], e) * bitcast<f32>(keys[base + 1u + e % p.headDim]);
}

fn valueAt(element: u32) -> f32 {
  let size = p.blockSize * p.headDim;
  let block = element / size;
  let e = element - block * size;
  let marker = keys[block * kvKeyWords()];
  if (marker != KV_ENCODED) { return residualValues[marker * size + e]; }
  let base = block * kvValueWords();
  return kvLevel(values[base + kvValueScales() + e / KV_PER_WORD], e) * kvValueScale(base, e);
}
