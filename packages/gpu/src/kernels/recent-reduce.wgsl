// Decode-time eviction scores, pass 2: per (KV head, selectable row), each query head of the group's
// probabilities over the scored query rows, averaged (SnapKV: `average`) or summed (H2O), then the GQA
// reduce over the group (mean, or max with `groupMax`). Written into `scores` [kvHeads][stride]; the
// padding past a head's selectable rows gets the lowest float, which selection never reaches. A
// score that is not finite (from NaN or infinite keys or queries) sets status[0].
struct Params {
  groupSize: u32,
  rows: u32,
  stride: u32,
  average: u32,
  groupMax: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> probabilities: array<f32>; // see recent-attention.wgsl
@group(0) @binding(2) var<storage, read> offsets: array<u32>;       // [kvHeads + 1] first (the attention's `layerTables`)
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;  // [kvHeads][stride]
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>>; // [1]

const LOWEST: f32 = -0x1.fffffep+127f;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let t = id.x;
  let head = id.y;
  if (t >= p.stride) { return; }
  let start = offsets[head];
  let selectable = offsets[head + 1u] - start;
  let at = head * p.stride + t;
  if (t >= selectable) {
    scores[at] = LOWEST;
    return;
  }
  let base = start * p.groupSize * p.rows;
  var reduced = select(0.0, LOWEST, p.groupMax == 1u);
  for (var m = 0u; m < p.groupSize; m++) {
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r++) {
      let v = probabilities[base + (m * p.rows + r) * selectable + t];
      acc += select(v, v / f32(p.rows), p.average == 1u);
    }
    reduced = select(reduced + acc, max(reduced, acc), p.groupMax == 1u);
  }
  if (p.groupMax == 0u) { reduced = reduced / f32(p.groupSize); }
  if ((bitcast<u32>(reduced) & 0x7f800000u) == 0x7f800000u) { atomicOr(&status[0], 1u); }
  scores[at] = reduced;
}
