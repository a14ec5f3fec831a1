/**
 * `out[t][o] = sum_i w[o][i] * x[t][i]` for `tokens` rows of `x`: weights are row-major `[outDim][inDim]`.
 * Four tokens share each pass over a weight row, so batched prefill reads the weights n/4 times, not n.
 */
export function matmul(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  tokens: number,
  inDim: number,
  outDim: number,
): void {
  for (let o = 0; o < outDim; o++) {
    const row = o * inDim;
    let t = 0;
    for (; t + 4 <= tokens; t += 4) {
      const x0 = t * inDim;
      const x1 = x0 + inDim;
      const x2 = x1 + inDim;
      const x3 = x2 + inDim;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let i = 0; i < inDim; i++) {
        const weight = w[row + i]!;
        a0 += weight * x[x0 + i]!;
        a1 += weight * x[x1 + i]!;
        a2 += weight * x[x2 + i]!;
        a3 += weight * x[x3 + i]!;
      }
      out[t * outDim + o] = a0;
      out[(t + 1) * outDim + o] = a1;
      out[(t + 2) * outDim + o] = a2;
      out[(t + 3) * outDim + o] = a3;
    }
    for (; t < tokens; t++) out[t * outDim + o] = dot(w, row, x, t * inDim, inDim);
  }
}

/** `sum_i a[aOffset + i] * b[bOffset + i]`, four independent accumulators for instruction-level parallelism. */
export function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, length: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    s0 += a[aOffset + i]! * b[bOffset + i]!;
    s1 += a[aOffset + i + 1]! * b[bOffset + i + 1]!;
    s2 += a[aOffset + i + 2]! * b[bOffset + i + 2]!;
    s3 += a[aOffset + i + 3]! * b[bOffset + i + 3]!;
  }
  for (; i < length; i++) s0 += a[aOffset + i]! * b[bOffset + i]!;
  return s0 + s1 + s2 + s3;
}

/** RMSNorm of each of `tokens` rows: `out = weight * x / sqrt(mean(x^2) + eps)`. */
export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, tokens: number, dim: number, eps: number): void {
  for (let t = 0; t < tokens; t++) {
    const base = t * dim;
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += x[base + i]! * x[base + i]!;
    const scale = 1 / Math.sqrt(squares / dim + eps);
    for (let i = 0; i < dim; i++) out[base + i] = weight[i]! * (scale * x[base + i]!);
  }
}

/** SwiGLU: `gate = silu(gate) * up`, elementwise over `length` values. */
export function swiglu(gate: Float32Array, up: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) {
    const g = gate[i]!;
    gate[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** `a += b` over `length` values. */
export function addInPlace(a: Float32Array, b: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) a[i] = a[i]! + b[i]!;
}
