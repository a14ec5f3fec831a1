// RoPE prelude for a batch of sequences: row t sits at position `position + rowPositions[t]`.
@group(0) @binding(4) var<storage, read> rowPositions: array<u32>; // [tokens]

fn positionOf(token: u32) -> u32 { return p.position + rowPositions[token]; }
