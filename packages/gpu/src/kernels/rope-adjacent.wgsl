// RoPE pairing prelude: adjacent pairs (2j, 2j + 1) of a head (llama2.c, GGUF `llama`).
fn pairOf(j: u32, halfDim: u32) -> vec2u { return vec2u(2u * j, 2u * j + 1u); }
