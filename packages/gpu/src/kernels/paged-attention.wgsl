// Flash-decoding, pass 1: one workgroup per (split, KV head x group chunk, sequence): grid (splits,
// kvHeads * chunks, batch), a chunk being up to 8 query heads of the KV head's group (a group of G takes
// ceil(G / 8) chunks, so any group size runs). Every sequence of a batch reads the same pool buffers
// through its own block tables. The query heads of a chunk share every K/V row read; each split covers
// `splitRows` rows of the head's paged cache and writes, per query head, its running max, sum of
// exponentials and weighted V sum (an empty split writes a zero sum, which the reduce skips, so a
// sequence's result does not depend on the others'). K/V are read through keyAt and valueAt from the
// kv-f32 or kv-f16 prelude.
struct Params {
  headDim: u32,
  groupSize: u32,
  blockSize: u32,
  maxBlocks: u32,
  splitRows: u32,
  splits: u32,
  scale: f32,
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<KvWord>;   // [block][blockSize][headDim]
@group(0) @binding(2) var<storage, read> values: array<KvWord>;
@group(0) @binding(3) var<storage, read> queries: array<f32>;   // [batch][queryHeads][headDim]
@group(0) @binding(4) var<storage, read> tables: array<u32>;    // [batch][kvHeads][maxBlocks]
@group(0) @binding(5) var<storage, read> lengths: array<u32>;   // [batch][kvHeads]
@group(0) @binding(6) var<storage, read_write> partials: array<f32>; // [batch][queryHeads][splits][headDim + 2]

const WORKGROUP: u32 = 64u;
const CHUNK: u32 = 8u; // query heads of a group per workgroup
const MAX_SPLIT_ROWS: u32 = 128u;
var<workgroup> scores: array<f32, 1024>; // [CHUNK][MAX_SPLIT_ROWS]
var<workgroup> stats: array<f32, 16>;    // per member of the chunk: max, sum

fn rowBase(head: u32, row: u32) -> u32 {
  let block = tables[head * p.maxBlocks + row / p.blockSize];
  return (block * p.blockSize + row % p.blockSize) * p.headDim;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let split = wg.x;
  let chunks = (p.groupSize + CHUNK - 1u) / CHUNK;
  let chunk = wg.y % chunks;
  let head = wg.z * (groups.y / chunks) + wg.y / chunks; // (sequence, KV head) flattened: tables, lengths, queries and partials follow it
  let firstMember = chunk * CHUNK;
  let members = min(CHUNK, p.groupSize - firstMember); // query heads of this chunk
  let length = lengths[head];
  let first = split * p.splitRows;
  let last = min(length, first + p.splitRows);
  let rows = select(0u, last - first, last > first);
  // scores of every (group member, row) of this split
  for (var i = t; i < members * rows; i += WORKGROUP) {
    let member = i / rows; // within the chunk
    let r = i % rows;
    let k = rowBase(head, first + r);
    let q = (head * p.groupSize + firstMember + member) * p.headDim;
    var dot = 0.0;
    for (var d = 0u; d < p.headDim; d++) {
      dot += queries[q + d] * keyAt(k + d);
    }
    scores[member * MAX_SPLIT_ROWS + r] = dot * p.scale;
  }
  workgroupBarrier();
  if (t < members) {
    var m = -0x1.fffffep+127f;
    for (var r = 0u; r < rows; r++) {
      m = max(m, scores[t * MAX_SPLIT_ROWS + r]);
    }
    var l = 0.0;
    for (var r = 0u; r < rows; r++) {
      let e = exp(scores[t * MAX_SPLIT_ROWS + r] - m);
      scores[t * MAX_SPLIT_ROWS + r] = e;
      l += e;
    }
    stats[t * 2u] = m;
    stats[t * 2u + 1u] = l;
  }
  workgroupBarrier();
  let stride = p.headDim + 2u;
  for (var i = t; i < members * p.headDim; i += WORKGROUP) {
    let member = i / p.headDim; // within the chunk
    let d = i % p.headDim;
    var acc = 0.0;
    for (var r = 0u; r < rows; r++) {
      acc += scores[member * MAX_SPLIT_ROWS + r] * valueAt(rowBase(head, first + r) + d);
    }
    let out = ((head * p.groupSize + firstMember + member) * p.splits + split) * stride;
    partials[out + 2u + d] = acc;
    if (d == 0u) {
      partials[out] = select(-0x1.fffffep+127f, stats[member * 2u], rows > 0u);
      partials[out + 1u] = stats[member * 2u + 1u] * select(0.0, 1.0, rows > 0u);
    }
  }
}
