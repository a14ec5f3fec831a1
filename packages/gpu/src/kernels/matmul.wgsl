// out[r][o] = sum_i a[r][i] * w[o][i] (+ out[r][o] when `accumulate`): a [rows][inDim] times the
// transpose of w [outDim][inDim] (weights stored row-major as llama2.c and GGUF do). Each workgroup
// computes a 64 x 64 tile of `out`, staging 64 x 16 slices of `a` and `w` in workgroup memory; each
// thread keeps a 4 x 4 block of outputs in registers, so every staged value is used 4 times per
// thread. Loads past the edges read zero; writes are guarded.
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

const TILE: u32 = 64u;  // outputs per side of a workgroup's tile
const DEPTH: u32 = 16u; // inner-dimension slice staged per step
var<workgroup> tileA: array<array<f32, 17>, 64>; // [row][i], padded against bank conflicts
var<workgroup> tileW: array<array<f32, 17>, 64>; // [o][i]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) local: vec3u, @builtin(local_invocation_index) t: u32) {
  let rowBase = wg.y * TILE;
  let outBase = wg.x * TILE;
  // row local.y + 16 i, outputs local.x + 16 j for j = 0..3 (in registers)
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var base = 0u; base < p.inDim; base += DEPTH) {
    for (var l = 0u; l < 4u; l++) { // 64 x 16 of each operand, four values per thread
      let e = t + l * 256u;
      let r = e / DEPTH;
      let i = base + e % DEPTH;
      let row = rowBase + r;
      let o = outBase + r;
      tileA[r][e % DEPTH] = select(0.0, a[min(row * p.inDim + i, arrayLength(&a) - 1u)], row < p.rows && i < p.inDim);
      tileW[r][e % DEPTH] = select(0.0, w[min(o * p.inDim + i, arrayLength(&w) - 1u)], o < p.outDim && i < p.inDim);
    }
    workgroupBarrier();
    for (var k = 0u; k < DEPTH; k++) {
      let right = vec4f(tileW[local.x][k], tileW[local.x + 16u][k], tileW[local.x + 32u][k], tileW[local.x + 48u][k]);
      acc0 += tileA[local.y][k] * right;
      acc1 += tileA[local.y + 16u][k] * right;
      acc2 += tileA[local.y + 32u][k] * right;
      acc3 += tileA[local.y + 48u][k] * right;
    }
    workgroupBarrier();
  }
  let acc = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let row = rowBase + local.y + 16u * i;
      let o = outBase + local.x + 16u * j;
      if (row < p.rows && o < p.outDim) {
        let at = row * p.outDim + o;
        out[at] = select(acc[i][j], out[at] + acc[i][j], p.accumulate != 0u);
      }
    }
  }
}
