// Adds a bias to every row of `a` in place: a[i] += bias[i % width] (`a` is [length / width][width]);
// the Q/K/V projection biases of Qwen 2, right after the projections.
struct Params {
  length: u32,
  width: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>; // [width]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid past 65535 workgroups
  if (i >= p.length || p.width == 0u) { return; }
  a[i] = a[i] + bias[i % p.width];
}
