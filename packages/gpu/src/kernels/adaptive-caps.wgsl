// Ada-KV's safeguard on the GPU: cap_h = min(selectable_h, table[c_h]), where the host computed
// table[c] = max(0, roundHalfEven(c (1 - alpha) + floor(B' alpha))) in f64 for every count c, so the
// caps round exactly as the core reference does.
struct Params {
  heads: u32,
  tableLength: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;       // [heads]: c_h
@group(0) @binding(2) var<storage, read> table: array<u32>;        // [tableLength]
@group(0) @binding(3) var<storage, read> offsets: array<u32>;      // [heads + 1]: selectable rows, prefix sums
@group(0) @binding(4) var<storage, read_write> caps: array<u32>;   // [heads]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let h = id.x;
  if (h >= p.heads) { return; }
  caps[h] = min(offsets[h + 1u] - offsets[h], table[min(counts[h], p.tableLength - 1u)]);
}
