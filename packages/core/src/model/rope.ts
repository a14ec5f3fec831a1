/**
 * RoPE rotation tables `[contextLength][headDim / 2]`, computed in f32 exactly as llama2.c does:
 * pair `j` of a head rotates by `pos * freq_j`, `freq_j = 1 / theta^(2j / headDim)`.
 */
export function ropeTables(headDim: number, contextLength: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(contextLength * half);
  const sin = new Float32Array(contextLength * half);
  const f32 = Math.fround;
  for (let j = 0; j < half; j++) {
    const freq = f32(1 / f32(Math.pow(theta, f32((2 * j) / headDim))));
    for (let pos = 0; pos < contextLength; pos++) {
      const angle = f32(pos * freq);
      cos[pos * half + j] = Math.cos(angle);
      sin[pos * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * Rotates adjacent pairs `(2j, 2j + 1)` of every head of one token's vectors in place
 * (llama2.c's and GGUF LLaMA's layout, not the rotate-half layout of Hugging Face checkpoints).
 */
export function applyRope(
  vectors: Float32Array,
  offset: number,
  heads: number,
  headDim: number,
  position: number,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const half = headDim / 2;
  const row = position * half;
  for (let h = 0; h < heads; h++) {
    const base = offset + h * headDim;
    for (let j = 0; j < half; j++) {
      const c = cos[row + j]!;
      const s = sin[row + j]!;
      const i = base + 2 * j;
      const v0 = vectors[i]!;
      const v1 = vectors[i + 1]!;
      vectors[i] = v0 * c - v1 * s;
      vectors[i + 1] = v0 * s + v1 * c;
    }
  }
}
