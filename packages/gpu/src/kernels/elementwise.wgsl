// In place on `a`: op 0 adds `b` (the residual), op 1 is SwiGLU: a = silu(a) * b.
struct Params {
  length: u32,
  op: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid past 65535 workgroups
  if (i >= p.length) { return; }
  if (p.op == 0u) {
    a[i] = a[i] + b[i];
  } else {
    let g = a[i];
    a[i] = (g / (1.0 + exp(-g))) * b[i];
  }
}
