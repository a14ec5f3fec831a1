// SnapKV scores, pass 2: per (KV head, prefix token), the mean over window rows of each query head's
// probability, then the GQA reduce over the group (mean = 0, max = 1).
struct Params {
  queryHeads: u32,
  kvHeads: u32,
  window: u32,
  prefix: u32,
  groupMax: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> probabilities: array<f32>; // [queryHeads][window][prefix]
@group(0) @binding(2) var<storage, read_write> scores: array<f32>;  // [kvHeads][prefix]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid: one dimension holds at most 65535 workgroups
  if (i >= p.kvHeads * p.prefix) { return; }
  let head = i / p.prefix;
  let t = i % p.prefix;
  let group = p.queryHeads / p.kvHeads;
  var reduced = select(0.0, -0x1.fffffep+127f, p.groupMax == 1u);
  for (var m = 0u; m < group; m++) {
    let q = head * group + m;
    var mean = 0.0;
    for (var r = 0u; r < p.window; r++) {
      mean += probabilities[(q * p.window + r) * p.prefix + t] / f32(p.window);
    }
    reduced = select(reduced + mean / f32(group), max(reduced, mean), p.groupMax == 1u);
  }
  scores[i] = reduced;
}
