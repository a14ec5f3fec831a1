// Writes rows into the paged K/V storage: row i of the input goes to row slot `slots[i]`. Used to
// append decode (and prefill) rows at their block-table slots.
struct Params {
  headDim: u32,
  rows: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> newKeys: array<f32>;   // [rows][headDim]
@group(0) @binding(2) var<storage, read> newValues: array<f32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;     // [rows]
@group(0) @binding(4) var<storage, read_write> keys: array<f32>;
@group(0) @binding(5) var<storage, read_write> values: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid: one dimension holds at most 65535 workgroups
  if (i >= p.rows * p.headDim) { return; }
  let row = i / p.headDim;
  let d = i % p.headDim;
  let at = slots[row] * p.headDim + d;
  if (at >= arrayLength(&keys)) { return; }
  keys[at] = newKeys[i];
  values[at] = newValues[i];
}
