/** A seeded generator of numbers in [-1, 1) (an LCG: enough for test data, same on every run). */
export function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** `n` seeded floats in [-scale, scale). */
export function floats(n: number, seed: number, scale = 1): Float32Array {
  const rnd = random(seed);
  return Float32Array.from({ length: n }, () => rnd() * scale);
}
