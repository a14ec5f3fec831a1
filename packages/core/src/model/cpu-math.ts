/**
 * `out[t][o] = sum_i w[o][i] * x[t][i]` for `tokens` rows of `x`; weights are row-major `[outDim][inDim]`.
 * Batches run in tiles of 4 tokens x 2 weight rows (each load feeds several multiply-adds), so
 * batched prefill streams the weights once per 4 tokens. Every output is one sequential f64 sum.
 */
export function matmul(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  tokens: number,
  inDim: number,
  outDim: number,
): void {
  let t = 0;
  for (; t + 4 <= tokens; t += 4) matmulFourTokens(out, x, w, t, inDim, outDim);
  for (; t < tokens; t++) matvec(out, t * outDim, x, t * inDim, w, inDim, outDim);
}

function matmulFourTokens(out: Float32Array, x: Float32Array, w: Float32Array, t: number, inDim: number, outDim: number): void {
  const x0 = t * inDim;
  const x1 = x0 + inDim;
  const x2 = x1 + inDim;
  const x3 = x2 + inDim;
  const o0 = t * outDim;
  const o1 = o0 + outDim;
  const o2 = o1 + outDim;
  const o3 = o2 + outDim;
  let o = 0;
  for (; o + 2 <= outDim; o += 2) {
    const r0 = o * inDim;
    const r1 = r0 + inDim;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    for (let i = 0; i < inDim; i++) {
      const w0 = w[r0 + i]!;
      const w1 = w[r1 + i]!;
      const y0 = x[x0 + i]!;
      const y1 = x[x1 + i]!;
      const y2 = x[x2 + i]!;
      const y3 = x[x3 + i]!;
      a0 += w0 * y0;
      a1 += w0 * y1;
      a2 += w0 * y2;
      a3 += w0 * y3;
      b0 += w1 * y0;
      b1 += w1 * y1;
      b2 += w1 * y2;
      b3 += w1 * y3;
    }
    out[o0 + o] = a0;
    out[o1 + o] = a1;
    out[o2 + o] = a2;
    out[o3 + o] = a3;
    out[o0 + o + 1] = b0;
    out[o1 + o + 1] = b1;
    out[o2 + o + 1] = b2;
    out[o3 + o + 1] = b3;
  }
  for (; o < outDim; o++) {
    for (let k = 0; k < 4; k++) out[o0 + k * outDim + o] = rowDot(w, o * inDim, x, x0 + k * inDim, inDim);
  }
}

/** One token: four weight rows per pass share each load of `x`. */
function matvec(out: Float32Array, outOffset: number, x: Float32Array, xOffset: number, w: Float32Array, inDim: number, outDim: number): void {
  let o = 0;
  for (; o + 4 <= outDim; o += 4) {
    const r0 = o * inDim;
    const r1 = r0 + inDim;
    const r2 = r1 + inDim;
    const r3 = r2 + inDim;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let i = 0; i < inDim; i++) {
      const xi = x[xOffset + i]!;
      a0 += w[r0 + i]! * xi;
      a1 += w[r1 + i]! * xi;
      a2 += w[r2 + i]! * xi;
      a3 += w[r3 + i]! * xi;
    }
    out[outOffset + o] = a0;
    out[outOffset + o + 1] = a1;
    out[outOffset + o + 2] = a2;
    out[outOffset + o + 3] = a3;
  }
  for (; o < outDim; o++) out[outOffset + o] = rowDot(w, o * inDim, x, xOffset, inDim);
}

function rowDot(w: Float32Array, row: number, x: Float32Array, xOffset: number, inDim: number): number {
  let sum = 0;
  for (let i = 0; i < inDim; i++) sum += w[row + i]! * x[xOffset + i]!;
  return sum;
}

/** The plain triple loop `matmul` must equal, kept as its reference twin for tests. */
export function matmulReference(out: Float32Array, x: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number): void {
  for (let t = 0; t < tokens; t++) {
    for (let o = 0; o < outDim; o++) out[t * outDim + o] = rowDot(w, o * inDim, x, t * inDim, inDim);
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

/** Adds `bias` to each of the `rows` rows of `x` (`[rows][bias.length]`). */
export function addRows(x: Float32Array, bias: Float32Array, rows: number): void {
  const width = bias.length;
  for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) x[r * width + i] = x[r * width + i]! + bias[i]!;
}

/** `a += b` over `length` values. */
export function addInPlace(a: Float32Array, b: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) a[i] = a[i]! + b[i]!;
}
