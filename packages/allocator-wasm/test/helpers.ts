/** A small deterministic generator so failures reproduce (fast-check drives the seeds in properties). */
export function randomFloats(seed: number, count: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Plain softmax(qK^T/sqrt(d))V in double precision; keys/values `[rows][d]`. */
export function referenceAttention(query: Float32Array, keys: Float32Array, values: Float32Array, d: number): Float64Array {
  const rows = keys.length / d;
  const out = new Float64Array(d);
  if (rows === 0) return out;
  const logits = Array.from({ length: rows }, (_, r) => {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += query[i]! * keys[r * d + i]!;
    return dot / Math.sqrt(d);
  });
  const max = Math.max(...logits);
  let total = 0;
  logits.forEach((logit, r) => {
    const weight = Math.exp(logit - max);
    total += weight;
    for (let i = 0; i < d; i++) out[i]! += weight * values[r * d + i]!;
  });
  return out.map((value) => value / total);
}
