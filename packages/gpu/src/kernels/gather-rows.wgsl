// Compaction: copies K/V row slot `moves[i].src` of `fromKeys`/`fromValues` to row slot `moves[i].dst`
// of `toKeys`/`toValues`. Compaction runs it twice (the pool's survivors into a staging buffer, then
// back into the head's first blocks), so sources and destinations never alias and a full pool can
// still compact. Rows are copied as 32-bit words, bit for bit, whatever the storage format
// (`headDim` here is words per row).
struct Params {
  headDim: u32,
  rows: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> moves: array<u32>; // [rows][2]: src, dst
@group(0) @binding(2) var<storage, read> fromKeys: array<u32>;
@group(0) @binding(3) var<storage, read> fromValues: array<u32>;
@group(0) @binding(4) var<storage, read_write> toKeys: array<u32>;
@group(0) @binding(5) var<storage, read_write> toValues: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid: one dimension holds at most 65535 workgroups
  if (i >= p.rows * p.headDim) { return; }
  let row = i / p.headDim;
  let d = i % p.headDim;
  let src = moves[row * 2u] * p.headDim + d;
  let dst = moves[row * 2u + 1u] * p.headDim + d;
  if (src >= arrayLength(&fromKeys) || dst >= arrayLength(&toKeys)) { return; }
  toKeys[dst] = fromKeys[src];
  toValues[dst] = fromValues[src];
}
