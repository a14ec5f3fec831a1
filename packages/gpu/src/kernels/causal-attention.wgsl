// Prefill attention: softmax(q K^T / sqrt(d)) V for every query row over the keys at or before it.
// One workgroup per (query head, block of 8 consecutive query rows): the block's queries sit in
// workgroup memory, so each key and value row is read once for all 8 of them. Keys are visited in
// tiles of 64 (one key per thread, its 8 logits) with an online softmax per query, so any length runs
// in fixed memory; each thread accumulates up to 4 output dimensions per query (head dim <= 256). G
// query heads read one KV head. A prelude says where the keys are: `causal-contiguous` (a whole
// prompt: query row t at position t, keys [tokens][kvHeads][headDim]) or `causal-paged` with a kv-f32
// or kv-f16 prelude (a chunk of a prompt: query row t at position start + t, keys read through the
// sequence's block tables, whose rows 0 .. start + tokens - 1 hold positions 0 .. start + tokens - 1).
// The prelude declares the uniforms `p` (headDim, queryHeads, kvHeads, tokens, scale, ...), the keys
// and values (bindings 2, 3), and `startOf()`, `rowBase(key, kvHead)`, `keyAt(i)`, `valueAt(i)`.
@group(0) @binding(1) var<storage, read> queries: array<f32>; // [tokens][queryHeads][headDim]
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [tokens][queryHeads][headDim]

const TILE: u32 = 64u;   // keys per tile = threads per workgroup
const BLOCK: u32 = 8u;   // query tokens per workgroup
const MAX_DIM: u32 = 256u;
const LOWEST: f32 = -0x1.fffffep+127f;
var<workgroup> query: array<f32, 2048>;   // [BLOCK][MAX_DIM]
var<workgroup> weights: array<f32, 512>;  // [BLOCK][TILE]: this tile's softmax numerators
var<workgroup> partial: array<f32, 512>;  // [BLOCK][TILE]: reduction scratch

/** Per query of the block, the max (or sum) over the tile of each thread's value; to every thread. */
fn reduceBlock(t: u32, value: array<f32, 8>, takeMax: bool) -> array<f32, 8> {
  for (var r = 0u; r < BLOCK; r++) { partial[r * TILE + t] = value[r]; }
  workgroupBarrier();
  for (var width = TILE / 2u; width > 0u; width /= 2u) {
    if (t < width) {
      for (var r = 0u; r < BLOCK; r++) {
        let a = partial[r * TILE + t];
        let b = partial[r * TILE + t + width];
        partial[r * TILE + t] = select(a + b, max(a, b), takeMax);
      }
    }
    workgroupBarrier();
  }
  var result: array<f32, 8>;
  for (var r = 0u; r < BLOCK; r++) { result[r] = partial[r * TILE]; }
  workgroupBarrier(); // every thread has read the results before `partial` is reused
  return result;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let head = wg.x;
  let first = wg.y * BLOCK;
  if (head >= p.queryHeads || first >= p.tokens) { return; }
  let count = min(BLOCK, p.tokens - first); // queries in this block
  let start = startOf();                     // the position of query row 0 (keys before it are cached)
  let last = start + first + count - 1u;     // the block's last key: keys beyond it are never read
  let kvHead = head / (p.queryHeads / p.kvHeads);
  for (var i = t; i < count * p.headDim; i += TILE) {
    let r = i / p.headDim;
    query[r * MAX_DIM + i % p.headDim] = queries[((first + r) * p.queryHeads + head) * p.headDim + i % p.headDim];
  }
  workgroupBarrier();
  var m: array<f32, 8>;
  var sum: array<f32, 8>;
  var acc: array<vec4f, 8>;
  for (var r = 0u; r < BLOCK; r++) { m[r] = LOWEST; sum[r] = 0.0; acc[r] = vec4f(0.0); }
  for (var tile = 0u; tile <= last; tile += TILE) {
    let key = tile + t;
    var logit: array<f32, 8>;
    for (var r = 0u; r < BLOCK; r++) { logit[r] = 0.0; }
    if (key <= last) {
      let kBase = rowBase(key, kvHead);
      for (var d = 0u; d < p.headDim; d++) {
        let k = keyAt(kBase + d);
        for (var r = 0u; r < BLOCK; r++) { logit[r] += query[r * MAX_DIM + d] * k; }
      }
    }
    var visible: array<bool, 8>; // causal: query r (position start + first + r) sees keys up to its own
    for (var r = 0u; r < BLOCK; r++) {
      visible[r] = r < count && key <= start + first + r;
      logit[r] = select(LOWEST, logit[r] * p.scale, visible[r]);
    }
    let tileMax = reduceBlock(t, logit, true);
    var next: array<f32, 8>;
    var weight: array<f32, 8>;
    for (var r = 0u; r < BLOCK; r++) {
      next[r] = max(m[r], tileMax[r]);
      weight[r] = select(0.0, exp(logit[r] - next[r]), visible[r]);
      weights[r * TILE + t] = weight[r];
    }
    let tileSum = reduceBlock(t, weight, false); // its barriers also publish `weights`
    for (var r = 0u; r < BLOCK; r++) {
      let correction = exp(m[r] - next[r]);
      sum[r] = sum[r] * correction + tileSum[r];
      acc[r] *= correction;
      m[r] = next[r];
    }
    let keysInTile = min(TILE, last + 1u - tile);
    for (var s = 0u; s < keysInTile; s++) {
      let vBase = rowBase(tile + s, kvHead);
      for (var j = 0u; j < 4u; j++) {
        let d = t + j * TILE;
        if (d < p.headDim) {
          let v = valueAt(vBase + d);
          for (var r = 0u; r < BLOCK; r++) { acc[r][j] += weights[r * TILE + s] * v; }
        }
      }
    }
    workgroupBarrier(); // everyone is done with `weights` before the next tile overwrites it
  }
  for (var r = 0u; r < count; r++) {
    let outBase = ((first + r) * p.queryHeads + head) * p.headDim;
    for (var j = 0u; j < 4u; j++) {
      let d = t + j * TILE;
      if (d < p.headDim) { out[outBase + d] = acc[r][j] / sum[r]; }
    }
  }
}
