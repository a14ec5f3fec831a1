import { OptionError } from '../errors.js';

/** Seeds are whole numbers in [0, MAX_SEED]: every seed a JSON client or a flag can carry exactly. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** Throws OptionError unless `seed` is a whole number in [0, {@link MAX_SEED}]; the one check every entry point uses. */
export function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new OptionError(`seed must be a whole number from 0 to ${MAX_SEED}, got ${seed}.`);
  }
  return seed;
}

/** xorshift stays at 0 forever from state 0, so seed 0 starts from this fixed state instead. */
const ZERO_SEED_STATE = 0x9e3779b97f4a7c15n;

/** llama2.c's xorshift64* generator: seedable, reproducible across runs and platforms. */
export class Rng {
  private state: bigint;

  constructor(seed: number) {
    checkSeed(seed);
    this.state = seed === 0 ? ZERO_SEED_STATE : BigInt(seed);
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s = BigInt.asUintN(64, s ^ (s << 25n));
    s ^= s >> 27n;
    this.state = s;
    return Number(BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn) >> 32n);
  }

  /** A uniform float in [0, 1) with 24 random bits, like llama2.c's `random_f32`. */
  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}

/** How a {@link Sampler} picks tokens. */
export interface SamplingOptions {
  /** 0 picks the most likely token (greedy); higher values flatten the distribution. */
  temperature: number;
  /** Nucleus sampling: sample from the smallest set of tokens whose probability exceeds `topP`; 1 disables it. */
  topP: number;
}

/** Index of the largest logit; the first one on ties, as llama2.c's `argmax`. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/**
 * Picks the next token from `logits` as llama2.c's sampler does: greedy at temperature 0, else
 * softmax(logits / temperature) and top-p (nucleus) or plain multinomial sampling.
 */
export class Sampler {
  private readonly probabilities: Float64Array;
  private readonly order: number[] = [];

  /**
   * @param vocabSize Logits per step.
   * @param options Temperature and top-p.
   * @param rng The random generator sampling draws from.
   */
  constructor(vocabSize: number, readonly options: SamplingOptions, private readonly rng: Rng) {
    const { temperature, topP } = options;
    if (!(temperature >= 0) || !Number.isFinite(temperature)) {
      throw new OptionError(`temperature must be a finite number >= 0 (0 = greedy), got ${temperature}.`);
    }
    if (!(topP > 0 && topP <= 1)) throw new OptionError(`topP must be in (0, 1] (1 = off), got ${topP}.`);
    this.probabilities = new Float64Array(vocabSize);
  }

  /** The next token for `logits` (greedy at temperature 0; otherwise drawn with the sampler's generator). */
  sample(logits: Float32Array): number {
    const { temperature, topP } = this.options;
    if (temperature === 0) return argmax(logits);
    const p = this.probabilities;
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
    let total = 0;
    for (let i = 0; i < logits.length; i++) total += p[i] = Math.exp((logits[i]! - max) / temperature);
    for (let i = 0; i < logits.length; i++) p[i] = p[i]! / total;
    const coin = this.rng.nextFloat();
    return topP < 1 ? this.sampleTopP(coin) : this.sampleAll(coin);
  }

  private sampleAll(coin: number): number {
    const p = this.probabilities;
    let cdf = 0;
    for (let i = 0; i < p.length; i++) {
      cdf += p[i]!;
      if (coin < cdf) return i;
    }
    return p.length - 1;
  }

  private sampleTopP(coin: number): number {
    const p = this.probabilities;
    // tokens below this cannot be in the nucleus; dropping them first keeps the sort short
    const cutoff = (1 - this.options.topP) / (p.length - 1);
    const order = this.order;
    order.length = 0;
    for (let i = 0; i < p.length; i++) if (p[i]! >= cutoff) order.push(i);
    order.sort((a, b) => p[b]! - p[a]! || a - b);
    let cumulative = 0;
    let last = order.length - 1;
    for (let i = 0; i < order.length; i++) {
      cumulative += p[order[i]!]!;
      if (cumulative > this.options.topP) {
        last = i;
        break;
      }
    }
    const r = coin * cumulative;
    let cdf = 0;
    for (let i = 0; i <= last; i++) {
      cdf += p[order[i]!]!;
      if (r < cdf) return order[i]!;
    }
    return order[last]!;
  }
}
