/** log-softmax of a logit vector, in float64 for stable small differences. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += Math.exp(logits[i]! - max);
  const logTotal = max + Math.log(total);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - logTotal;
  return out;
}

/** KL(P || Q) in nats between the next-token distributions given by two logit vectors. */
export function klDivergence(logitsP: ArrayLike<number>, logitsQ: ArrayLike<number>): number {
  const logP = logSoftmax(logitsP);
  const logQ = logSoftmax(logitsQ);
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const p = Math.exp(logP[i]!);
    if (p > 0) kl += p * (logP[i]! - logQ[i]!);
  }
  return Math.max(0, kl);
}

/** Negative log-likelihood of `target` under the logits. */
export function negativeLogLikelihood(logits: ArrayLike<number>, target: number): number {
  return -logSoftmax(logits)[target]!;
}

/** Index of the largest logit (lowest index on ties, as greedy decoding picks). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Mean, sample standard deviation, extremes and count of per-segment figures. */
export interface Spread {
  /** The mean. */
  mean: number;
  /** The sample standard deviation (0 for one value). */
  std: number;
  /** The smallest value. */
  min: number;
  /** The largest value. */
  max: number;
  /** Values summarized. */
  n: number;
}

/** Mean and sample standard deviation of per-segment figures. */
export function spread(values: readonly number[]): Spread {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, min: Number.NaN, max: Number.NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values), n };
}
