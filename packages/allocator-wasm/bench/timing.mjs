/** Median wall time (ms) of `runs` calls of `action`, after one warm-up call. */
export function medianMs(action, runs = 5) {
  action();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    action();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Deterministic floats in [-1, 1). */
export function randomFloats(seed, count) {
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

export const format = (value, digits = 2) => value.toFixed(digits);
