// SnapKV scores, pass 1: one workgroup per (query head, window row). The row's query attends
// causally over all n keys (scaled by 1/sqrt(d), f32 softmax); the probabilities of the prefix
// columns [0, n - window) are written out. Each logit is computed once (online softmax).
struct Params {
  headDim: u32,
  queryHeads: u32,
  kvHeads: u32,
  tokens: u32,
  window: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<f32>;    // [tokens][kvHeads][headDim]
@group(0) @binding(2) var<storage, read> queries: array<f32>; // [window][queryHeads][headDim]: the window's rows only
@group(0) @binding(3) var<storage, read_write> probabilities: array<f32>; // [queryHeads][window][tokens - window]

fn logit(q: u32, row: u32, t: u32) -> f32 {
  let head = q / (p.queryHeads / p.kvHeads);
  let qBase = (row * p.queryHeads + q) * p.headDim;
  let kBase = (t * p.kvHeads + head) * p.headDim;
  var dot = 0.0;
  for (var d = 0u; d < p.headDim; d++) {
    dot += queries[qBase + d] * keys[kBase + d];
  }
  return dot * p.scale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let q = wg.x;
  let row = wg.y;
  if (q >= p.queryHeads || row >= p.window) { return; }
  let prefix = p.tokens - p.window;
  let visible = prefix + row + 1u; // causal inside the window block
  let out = (q * p.window + row) * prefix;
  // one pass over the keys: each thread keeps an online-softmax state (max, rescaled sum) and parks
  // its prefix logits in the output, so every logit is computed once
  var m = -0x1.fffffep+127f;
  var sum = 0.0;
  for (var k = t; k < visible; k += WORKGROUP) {
    let l = logit(q, row, k);
    if (k < prefix) { probabilities[out + k] = l; }
    let next = max(m, l);
    sum = sum * exp(m - next) + exp(l - next);
    m = next;
  }
  let rowMax = reduce(t, m, true);
  let rowSum = reduce(t, sum * exp(m - rowMax), false);
  // the same thread wrote these entries above, so it reads its own writes
  for (var k = t; k < prefix; k += WORKGROUP) {
    probabilities[out + k] = exp(probabilities[out + k] - rowMax) / rowSum;
  }
}
