// causal-attention prelude for a whole prompt: query row t at position t, keys and values contiguous.
struct Params {
  headDim: u32,
  queryHeads: u32,
  kvHeads: u32,
  tokens: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> keys: array<f32>;   // [tokens][kvHeads][headDim]
@group(0) @binding(3) var<storage, read> values: array<f32>; // [tokens][kvHeads][headDim]

fn startOf() -> u32 { return 0u; }
fn rowBase(key: u32, kvHead: u32) -> u32 { return (key * p.kvHeads + kvHead) * p.headDim; }
fn keyAt(element: u32) -> f32 { return keys[element]; }
fn valueAt(element: u32) -> f32 { return values[element]; }
