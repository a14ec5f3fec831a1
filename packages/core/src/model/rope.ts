/**
 * Which dimensions RoPE rotates together: `adjacent` pairs `(2j, 2j + 1)` (llama2.c, and GGUF `llama`
 * files, whose converter permutes Q and K for it) or `neox` pairs `(j, j + headDim / 2)` (GGUF `qwen2`,
 * the rotate-half layout of Hugging Face checkpoints).
 */
export type RopeStyle = 'adjacent' | 'neox';

/** Frequency scaling of long-context models, as GGUF files describe it. */
export interface RopeScaling {
  /** Per pair: its frequency divided by this factor (GGUF `rope_freqs.weight`, Llama 3.1's scaling). */
  readonly freqFactors?: Float32Array;
  /** Linear position interpolation: every position divided by this factor (`rope.scaling.type = linear`). */
  readonly linearFactor?: number;
}

/**
 * RoPE rotation tables `[contextLength][headDim / 2]`, computed in f32 exactly as llama2.c does:
 * pair `j` of a head rotates by `pos * freq_j`, `freq_j = 1 / theta^(2j / headDim)`, with the
 * model's frequency scaling applied when it has one.
 */
export function ropeTables(headDim: number, contextLength: number, theta: number, scaling: RopeScaling = {}): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(contextLength * half);
  const sin = new Float32Array(contextLength * half);
  const f32 = Math.fround;
  const { freqFactors, linearFactor = 1 } = scaling;
  for (let j = 0; j < half; j++) {
    let freq = f32(1 / f32(Math.pow(theta, f32((2 * j) / headDim))));
    if (freqFactors) freq = f32(freq / freqFactors[j]!);
    if (linearFactor !== 1) freq = f32(freq / linearFactor);
    for (let pos = 0; pos < contextLength; pos++) {
      const angle = f32(pos * freq);
      cos[pos * half + j] = Math.cos(angle);
      sin[pos * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** Rotates the RoPE pairs (see {@link RopeStyle}) of every head of one token's vectors in place. */
export function applyRope(
  vectors: Float32Array,
  offset: number,
  heads: number,
  headDim: number,
  position: number,
  cos: Float32Array,
  sin: Float32Array,
  style: RopeStyle = 'adjacent',
): void {
  const half = headDim / 2;
  const row = position * half;
  const [stride, partner] = style === 'adjacent' ? [2, 1] : [1, half];
  for (let h = 0; h < heads; h++) {
    const base = offset + h * headDim;
    for (let j = 0; j < half; j++) {
      const c = cos[row + j]!;
      const s = sin[row + j]!;
      const i = base + stride * j;
      const v0 = vectors[i]!;
      const v1 = vectors[i + partner]!;
      vectors[i] = v0 * c - v1 * s;
      vectors[i + partner] = v0 * s + v1 * c;
    }
  }
}
