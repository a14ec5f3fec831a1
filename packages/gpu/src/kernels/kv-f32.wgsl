// K/V storage as f32: one float per word. Prepended to the paged kernels (see kv-f16.wgsl).
alias KvWord = f32;
const KV_PACK: u32 = 1u; // K/V elements per stored word

fn keyAt(element: u32) -> f32 { return keys[element]; }
fn valueAt(element: u32) -> f32 { return values[element]; }
fn toWord(pair: vec2f) -> KvWord { return pair.x; }
