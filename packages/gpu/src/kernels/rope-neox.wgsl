// RoPE pairing prelude: rotate-half pairs (j, j + headDim / 2) of a head (GPT-NeoX, GGUF `qwen2`).
fn pairOf(j: u32, halfDim: u32) -> vec2u { return vec2u(j, j + halfDim); }
