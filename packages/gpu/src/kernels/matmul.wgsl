// out[r][o] = sum_i a[r][i] * w[o][i] (+ out[r][o] when `accumulate`): a [rows][inDim] times the
// transpose of w [outDim][inDim] (weights stored row-major as llama2.c and GGUF do). Tiled: each
// workgroup computes a 16 x 16 tile of `out`, staging 16 x 16 tiles of `a` and `w` in workgroup
// memory so every loaded float is used 16 times. Loads past the edges read zero; writes are guarded.
struct Params {
  rows: u32,
  inDim: u32,
  outDim: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TILE: u32 = 16u;
var<workgroup> tileA: array<array<f32, 16>, 16>; // [row][i]
var<workgroup> tileW: array<array<f32, 17>, 16>; // [o][i], padded against bank conflicts

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) local: vec3u) {
  let row = wg.y * TILE + local.y;
  let o = wg.x * TILE + local.x;
  let loadO = wg.x * TILE + local.y; // the W row this thread stages
  var sum = 0.0;
  for (var base = 0u; base < p.inDim; base += TILE) {
    let i = base + local.x;
    tileA[local.y][local.x] = select(0.0, a[min(row * p.inDim + i, arrayLength(&a) - 1u)], row < p.rows && i < p.inDim);
    tileW[local.y][local.x] = select(0.0, w[min(loadO * p.inDim + i, arrayLength(&w) - 1u)], loadO < p.outDim && i < p.inDim);
    workgroupBarrier();
    for (var j = 0u; j < TILE; j++) { sum += tileA[local.y][j] * tileW[local.x][j]; }
    workgroupBarrier();
  }
  if (row < p.rows && o < p.outDim) {
    let at = row * p.outDim + o;
    out[at] = select(sum, out[at] + sum, p.accumulate != 0u);
  }
}
