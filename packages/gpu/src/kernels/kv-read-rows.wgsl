// Reads K/V rows as f32 through keyAt / valueAt (a kv-* prelude: any storage format, residual rows
// included): output row r is the stored row whose first element is `sources[r]` (`(block * blockSize
// + slot) * headDim`). What compaction of an int8 / int4 pool re-encodes from, what continuing a
// partly filled encoded block starts its residual with, and what `rows()` reads back.
struct Params {
  headDim: u32,
  blockSize: u32,
  rows: u32,
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<KvWord>;
@group(0) @binding(2) var<storage, read> values: array<KvWord>;
@group(0) @binding(3) var<storage, read> sources: array<u32>;            // [rows]
@group(0) @binding(4) var<storage, read_write> outKeys: array<f32>;     // [rows][headDim]
@group(0) @binding(5) var<storage, read_write> outValues: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid: one dimension holds at most 65535 workgroups
  if (i >= p.rows * p.headDim || i >= arrayLength(&outKeys)) { return; }
  let r = i / p.headDim;
  let element = sources[r] + i % p.headDim;
  outKeys[i] = keyAt(element);
  outValues[i] = valueAt(element);
}
