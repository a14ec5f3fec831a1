// K/V storage as f16, two halves packed per u32 word (pack2x16float): half the memory and the
// bandwidth of f32, on every adapter (no `shader-f16` needed: arithmetic stays f32).
alias KvWord = u32;
const KV_PACK: u32 = 2u; // K/V elements per stored word

fn keyAt(element: u32) -> f32 { return unpack2x16float(keys[element >> 1u])[element & 1u]; }
fn valueAt(element: u32) -> f32 { return unpack2x16float(values[element >> 1u])[element & 1u]; }
fn toWord(pair: vec2f) -> KvWord { return pack2x16float(pair); }
