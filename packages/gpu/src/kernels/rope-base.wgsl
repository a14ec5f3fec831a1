// RoPE prelude for a prompt: token t sits at position `position + t`.
fn positionOf(token: u32) -> u32 { return p.position + token; }
