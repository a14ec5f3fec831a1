// causal-attention prelude for a chunk of a prompt after earlier ones: query row t at position
// start + t over one sequence's paged K/V (a pool layer's buffers, read through keyAt and valueAt of the
// kv-f32 or kv-f16 prelude), row r of KV head h (position r) in slot tables[h][r / blockSize].
struct Params {
  headDim: u32,
  queryHeads: u32,
  kvHeads: u32,
  tokens: u32,
  scale: f32,
  start: u32,
  blockSize: u32,
  maxBlocks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> keys: array<KvWord>;   // [block][blockSize][headDim]
@group(0) @binding(3) var<storage, read> values: array<KvWord>;
@group(0) @binding(5) var<storage, read> tables: array<u32>;    // [kvHeads][maxBlocks]

fn startOf() -> u32 { return p.start; }
fn rowBase(key: u32, kvHead: u32) -> u32 {
  let block = tables[kvHead * p.maxBlocks + key / p.blockSize];
  return (block * p.blockSize + key % p.blockSize) * p.headDim;
}
