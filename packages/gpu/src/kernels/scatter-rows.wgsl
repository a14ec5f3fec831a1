// Writes rows into the paged K/V storage: row i of the input goes to row slot `slots[i]`. Used to
// append decode (and prefill) rows at their block-table slots (an int8/int4 pool: into f32 residual
// or staging rows; slot 0xffffffff skips a row). One thread per stored word; the
// storage format (KvWord, KV_PACK, toWord) comes from the kv-f32 or kv-f16 prelude.
struct Params {
  headDim: u32,
  rows: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> newKeys: array<f32>;   // [rows][headDim]
@group(0) @binding(2) var<storage, read> newValues: array<f32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;     // [rows]
@group(0) @binding(4) var<storage, read_write> keys: array<KvWord>;
@group(0) @binding(5) var<storage, read_write> values: array<KvWord>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * 64u; // 2-D grid: one dimension holds at most 65535 workgroups
  let wordsPerRow = p.headDim / KV_PACK;
  if (i >= p.rows * wordsPerRow) { return; }
  let row = i / wordsPerRow;
  let word = i % wordsPerRow;
  if (slots[row] == 0xffffffffu) { return; } // a row this dispatch does not write (quantized pools split an append)
  let at = slots[row] * wordsPerRow + word;
  if (at >= arrayLength(&keys)) { return; }
  let element = i * KV_PACK;
  let next = min(element + 1u, p.rows * p.headDim - 1u); // read only by the f16 format
  keys[at] = toWord(vec2f(newKeys[element], newKeys[next]));
  values[at] = toWord(vec2f(newValues[element], newValues[next]));
}
