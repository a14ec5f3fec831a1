// RoPE on the pairs of every head of `tokens` vectors with llama2.c's f32 tables [context][headDim / 2].
// Two preludes complete it. Token t's position comes from `positionOf(t)`: `position + t` (rope-base:
// a prompt), or `position + rowPositions[t]` (rope-rows: a batch of sequences, each at its own
// position). Pair j's two dimensions come from `pairOf(j, headDim / 2)`: (2j, 2j + 1) (rope-adjacent)
// or (j, j + headDim / 2) (rope-neox).
struct Params {
  heads: u32,
  headDim: u32,
  position: u32,
  tokens: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> vectors: array<f32>; // [tokens][heads][headDim]
@group(0) @binding(2) var<storage, read> cosTable: array<f32>;
@group(0) @binding(3) var<storage, read> sinTable: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let halfDim = p.headDim / 2u;
  let pair = id.x + id.y * groups.x * 64u;
  let pairsPerToken = p.heads * halfDim;
  if (pair >= p.tokens * pairsPerToken) { return; }
  let token = pair / pairsPerToken;
  let j = pair % halfDim;
  let base = token * p.heads * p.headDim + ((pair % pairsPerToken) / halfDim) * p.headDim;
  let dims = pairOf(j, halfDim);
  let row = min(positionOf(token) * halfDim + j, arrayLength(&cosTable) - 1u);
  let c = cosTable[row];
  let s = sinTable[row];
  let v0 = vectors[base + dims.x];
  let v1 = vectors[base + dims.y];
  vectors[base + dims.x] = v0 * c - v1 * s;
  vectors[base + dims.y] = v0 * s + v1 * c;
}
