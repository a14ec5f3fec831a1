// Decode-time eviction scores, pass 1: one workgroup per (query head, recorded query row). The row's
// query, read from the layer's ring of recent queries, attends over every row of its KV head, read in
// place through the block table, causally by position (keys whose original position is past the
// query's are masked), scaled by 1/sqrt(d), softmax in f32 (online: each logit computed once). The
// probabilities of the head's selectable rows [0, selectable) are written out; a row that sees no key
// gets zeros. Heads are ragged: head h's selectable rows are offsets[h + 1] - offsets[h], its
// probabilities [groupSize][rows][selectable] start at offsets[h] * groupSize * rows. As in the core
// reference, a row whose softmax is not finite attends to nothing, and a selectable key it sees with a
// NaN or +infinite logit makes the scores non-finite: that sets status[0] (WGSL may assume finite
// floats, so the check reads the bits). K is read through keyAt from the kv-f32 or kv-f16 prelude.
struct Params {
  headDim: u32,
  queryHeads: u32,
  groupSize: u32,
  blockSize: u32,
  maxBlocks: u32,
  rows: u32,      // query rows scored
  ringRows: u32,  // rows the ring holds
  firstSlot: u32, // ring slot of the oldest row scored; row r is in slot (firstSlot + r) % ringRows
  maxLength: u32, // row stride of keyPositions
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<KvWord>;          // the pool layer: [block][blockSize][headDim]
@group(0) @binding(2) var<storage, read> ring: array<f32>;             // [ringRows][queryHeads][headDim]
// the layer's integer tables in one binding (WebGPU guarantees 8 storage bindings per stage), in order:
// offsets [kvHeads + 1] (selectable rows, prefix sums), lengths [kvHeads], the query rows' positions
// [rows] (i32 bits), block tables [kvHeads][maxBlocks], the keys' positions [kvHeads][maxLength] (i32 bits)
@group(0) @binding(3) var<storage, read> layerTables: array<u32>;
@group(0) @binding(4) var<storage, read_write> probabilities: array<f32>;
@group(0) @binding(5) var<storage, read_write> status: array<atomic<u32>>; // [1]
// never read here (so not in the pipeline's layout): declared for the storage prelude's valueAt
@group(0) @binding(6) var<storage, read> values: array<KvWord>;

const LOWEST: f32 = -0x1.fffffep+127f;

fn kvHeads() -> u32 { return p.queryHeads / p.groupSize; }
fn lengthOf(head: u32) -> u32 { return layerTables[kvHeads() + 1u + head]; }
fn queryPosition(r: u32) -> i32 { return bitcast<i32>(layerTables[2u * kvHeads() + 1u + r]); }
fn tableEntry(i: u32) -> u32 { return layerTables[2u * kvHeads() + 1u + p.rows + i]; }
fn keyPosition(head: u32, k: u32) -> i32 {
  return bitcast<i32>(layerTables[2u * kvHeads() + 1u + p.rows + kvHeads() * p.maxBlocks + head * p.maxLength + k]);
}

fn logit(head: u32, row: u32, query: u32) -> f32 {
  let block = tableEntry(head * p.maxBlocks + row / p.blockSize);
  let base = (block * p.blockSize + row % p.blockSize) * p.headDim;
  var dot = 0.0;
  for (var d = 0u; d < p.headDim; d++) { dot += ring[query + d] * keyAt(base + d); }
  return dot * p.scale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let q = wg.x;
  let r = wg.y;
  if (q >= p.queryHeads || r >= p.rows) { return; }
  let head = q / p.groupSize;
  let member = q % p.groupSize;
  let length = lengthOf(head);
  let start = layerTables[head];
  let selectable = layerTables[head + 1u] - start;
  let query = (((p.firstSlot + r) % p.ringRows) * p.queryHeads + q) * p.headDim;
  let position = queryPosition(r);
  let out = start * p.groupSize * p.rows + (member * p.rows + r) * selectable;
  // one pass over the keys: each thread keeps an online-softmax state (max, rescaled sum) and parks
  // its selectable logits in the output, so every logit is computed once
  var m = LOWEST;
  var sum = 0.0;
  for (var k = t; k < length; k += WORKGROUP) {
    if (keyPosition(head, k) > position) { continue; }
    let l = logit(head, k, query);
    if (k < selectable) {
      probabilities[out + k] = l;
      let bits = bitcast<u32>(l);
      if ((bits & 0x7f800000u) == 0x7f800000u && bits != 0xff800000u) { atomicOr(&status[0], 1u); } // NaN or +inf
    }
    let next = max(m, l);
    sum = sum * exp(m - next) + exp(l - next);
    m = next;
  }
  let rowMax = reduce(t, m, true);
  let rowSum = reduce(t, sum * exp(m - rowMax), false);
  // the same thread wrote these entries above, so it reads its own writes
  for (var k = t; k < selectable; k += WORKGROUP) {
    let visible = keyPosition(head, k) <= position;
    probabilities[out + k] = select(0.0, exp(probabilities[out + k] - rowMax) / rowSum, visible && rowSum > 0.0);
  }
}
