// SnapKV scores, pass 3: 1-D pooling along each head's scores, stride 1, padding k/2, same length;
// max ignores the padding, avg counts it (divides by k), as PyTorch's pooling does. Heads are rows of
// `length` (the stride) holding lengths[h] scores each; the rest of a row gets the lowest float.
struct Params {
  heads: u32,
  length: u32,
  kernelSize: u32,
  average: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> raw: array<f32>;            // [heads][length]
@group(0) @binding(2) var<storage, read_write> pooled: array<f32>;   // [heads][length]
@group(0) @binding(3) var<storage, read> lengths: array<u32>;        // [heads]: scores per head

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid: one dimension holds at most 65535 workgroups
  if (i >= p.heads * p.length) { return; }
  let head = i / p.length;
  let t = i % p.length;
  let valid = lengths[head];
  if (t >= valid) {
    pooled[i] = -0x1.fffffep+127f;
    return;
  }
  let radius = p.kernelSize / 2u;
  let src = select(0u, t - radius, t >= radius);
  let dst = min(valid - 1u, t + radius);
  var acc = select(-0x1.fffffep+127f, 0.0, p.average == 1u);
  for (var j = src; j <= dst; j++) {
    let v = raw[head * p.length + j];
    acc = select(max(acc, v), acc + v, p.average == 1u);
  }
  pooled[i] = select(acc, acc / f32(max(p.kernelSize, 1u)), p.average == 1u);
}
