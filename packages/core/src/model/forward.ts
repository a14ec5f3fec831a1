import { OptionError } from '../errors.js';
import type { KvStore } from '../store.js';
import { addInPlace, dot, matmul, rmsnorm, swiglu } from './kernels.js';
import type { Model } from './model.js';
import type { LayerObservation } from './observation.js';
import { checkPosition, checkPrefillInput, checkToken } from './forward-checks.js';
import { applyRope } from './rope.js';

/** Result of a batched prefill: the next-token logits after the last prompt token, and what each layer saw. */
export interface PrefillOutput {
  readonly logits: Float32Array;
  readonly observations: LayerObservation[];
}

/**
 * The LLaMA forward pass on the CPU, as llama2.c computes it: RMSNorm, RoPE on adjacent pairs,
 * grouped-query attention, SwiGLU, final norm and classifier. Decode reads and writes K/V only
 * through a {@link KvStore}; prefill attends causally over the prompt directly, then appends.
 * Decode buffers are allocated once, so a decoded token allocates nothing but what the store does.
 */
export class Transformer {
  private readonly x: Float32Array;
  private readonly normed: Float32Array;
  private readonly q: Float32Array;
  private readonly k: Float32Array;
  private readonly v: Float32Array;
  private readonly attention: Float32Array;
  private readonly projected: Float32Array;
  private readonly gate: Float32Array;
  private readonly up: Float32Array;
  private readonly logits: Float32Array;
  private readonly position = new Int32Array(1);

  constructor(readonly model: Model) {
    const { dim, hiddenDim, queryHeads, kvHeads, headDim, vocabSize } = model.config;
    this.x = new Float32Array(dim);
    this.normed = new Float32Array(dim);
    this.q = new Float32Array(queryHeads * headDim);
    this.k = new Float32Array(kvHeads * headDim);
    this.v = new Float32Array(kvHeads * headDim);
    this.attention = new Float32Array(queryHeads * headDim);
    this.projected = new Float32Array(dim);
    this.gate = new Float32Array(hiddenDim);
    this.up = new Float32Array(hiddenDim);
    this.logits = new Float32Array(vocabSize);
  }

  /**
   * Runs `tokens` at positions `0 .. n-1` as one batch, appends their post-RoPE K/V to the (empty)
   * `store` and returns the logits that predict position `n`.
   */
  async prefill(tokens: ArrayLike<number>, store: KvStore): Promise<PrefillOutput> {
    const { config, weights } = this.model;
    const { dim, hiddenDim, queryHeads, kvHeads, headDim, normEps } = config;
    const n = tokens.length;
    checkPrefillInput(config, tokens, store);
    const qDim = queryHeads * headDim;
    const kvDim = kvHeads * headDim;
    const x = new Float32Array(n * dim);
    for (let t = 0; t < n; t++) x.set(this.embeddingRow(tokens[t]!), t * dim);
    const normed = new Float32Array(n * dim);
    const attention = new Float32Array(n * qDim);
    const projected = new Float32Array(n * dim);
    const gate = new Float32Array(n * hiddenDim);
    const up = new Float32Array(n * hiddenDim);
    const positions = Int32Array.from({ length: n }, (_, t) => t);
    const observations: LayerObservation[] = [];

    for (let layer = 0; layer < config.layers; layer++) {
      const w = weights.layers[layer]!;
      rmsnorm(normed, x, w.attentionNorm, n, dim, normEps);
      const queries = new Float32Array(n * qDim);
      const keys = new Float32Array(n * kvDim);
      const values = new Float32Array(n * kvDim);
      matmul(queries, normed, w.wq, n, dim, qDim);
      matmul(keys, normed, w.wk, n, dim, kvDim);
      matmul(values, normed, w.wv, n, dim, kvDim);
      for (let t = 0; t < n; t++) {
        applyRope(queries, t * qDim, queryHeads, headDim, t, weights.ropeCos, weights.ropeSin);
        applyRope(keys, t * kvDim, kvHeads, headDim, t, weights.ropeCos, weights.ropeSin);
      }
      this.causalAttention(attention, queries, keys, values, n);
      store.append(layer, keys, values, positions);
      observations.push({ queries, keys, values });
      matmul(projected, attention, w.wo, n, qDim, dim);
      addInPlace(x, projected, n * dim);
      rmsnorm(normed, x, w.ffnNorm, n, dim, normEps);
      matmul(gate, normed, w.w1, n, dim, hiddenDim);
      matmul(up, normed, w.w3, n, dim, hiddenDim);
      swiglu(gate, up, n * hiddenDim);
      matmul(projected, gate, w.w2, n, hiddenDim, dim);
      addInPlace(x, projected, n * dim);
    }
    this.x.set(x.subarray((n - 1) * dim, n * dim));
    return { logits: Float32Array.from(this.classify()), observations };
  }

  /**
   * Runs one token at `position`: appends its K/V to `store`, attends through `store.attend`, and
   * returns the next-token logits. The returned array is reused by the next call.
   */
  async decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    const { config, weights } = this.model;
    const { dim, hiddenDim, queryHeads, kvHeads, headDim, normEps } = config;
    checkPosition(config, position);
    const qDim = queryHeads * headDim;
    const kvDim = kvHeads * headDim;
    const x = this.x;
    x.set(this.embeddingRow(token));
    this.position[0] = position;
    for (let layer = 0; layer < config.layers; layer++) {
      const w = weights.layers[layer]!;
      rmsnorm(this.normed, x, w.attentionNorm, 1, dim, normEps);
      matmul(this.q, this.normed, w.wq, 1, dim, qDim);
      matmul(this.k, this.normed, w.wk, 1, dim, kvDim);
      matmul(this.v, this.normed, w.wv, 1, dim, kvDim);
      applyRope(this.q, 0, queryHeads, headDim, position, weights.ropeCos, weights.ropeSin);
      applyRope(this.k, 0, kvHeads, headDim, position, weights.ropeCos, weights.ropeSin);
      store.append(layer, this.k, this.v, this.position);
      await store.attend(layer, this.q, this.attention);
      matmul(this.projected, this.attention, w.wo, 1, qDim, dim);
      addInPlace(x, this.projected, dim);
      rmsnorm(this.normed, x, w.ffnNorm, 1, dim, normEps);
      matmul(this.gate, this.normed, w.w1, 1, dim, hiddenDim);
      matmul(this.up, this.normed, w.w3, 1, dim, hiddenDim);
      swiglu(this.gate, this.up, hiddenDim);
      matmul(this.projected, this.gate, w.w2, 1, hiddenDim, dim);
      addInPlace(x, this.projected, dim);
    }
    return this.classify();
  }

  /**
   * One decode step for several sequences at once: the matrix products run over the whole batch
   * (weights read once per step), attention runs per sequence through its own store. Row `i` of the
   * result equals what `decode(tokens[i], positions[i], stores[i])` returns, bit for bit.
   */
  async decodeBatch(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<Float32Array[]> {
    const { config, weights } = this.model;
    const { dim, hiddenDim, queryHeads, kvHeads, headDim, normEps, vocabSize } = config;
    const b = tokens.length;
    if (positions.length !== b || stores.length !== b) {
      throw new OptionError(`decodeBatch: ${b} tokens, ${positions.length} positions and ${stores.length} stores must match.`);
    }
    positions.forEach((position) => checkPosition(config, position));
    const qDim = queryHeads * headDim;
    const kvDim = kvHeads * headDim;
    const x = new Float32Array(b * dim);
    tokens.forEach((token, i) => x.set(this.embeddingRow(token), i * dim));
    const normed = new Float32Array(b * dim);
    const q = new Float32Array(b * qDim);
    const k = new Float32Array(b * kvDim);
    const v = new Float32Array(b * kvDim);
    const attention = new Float32Array(b * qDim);
    const projected = new Float32Array(b * dim);
    const gate = new Float32Array(b * hiddenDim);
    const up = new Float32Array(b * hiddenDim);
    for (let layer = 0; layer < config.layers; layer++) {
      const w = weights.layers[layer]!;
      rmsnorm(normed, x, w.attentionNorm, b, dim, normEps);
      matmul(q, normed, w.wq, b, dim, qDim);
      matmul(k, normed, w.wk, b, dim, kvDim);
      matmul(v, normed, w.wv, b, dim, kvDim);
      for (let i = 0; i < b; i++) {
        applyRope(q, i * qDim, queryHeads, headDim, positions[i]!, weights.ropeCos, weights.ropeSin);
        applyRope(k, i * kvDim, kvHeads, headDim, positions[i]!, weights.ropeCos, weights.ropeSin);
        stores[i]!.append(layer, k.subarray(i * kvDim, (i + 1) * kvDim), v.subarray(i * kvDim, (i + 1) * kvDim), Int32Array.of(positions[i]!));
        await stores[i]!.attend(layer, q.subarray(i * qDim, (i + 1) * qDim), attention.subarray(i * qDim, (i + 1) * qDim));
      }
      matmul(projected, attention, w.wo, b, qDim, dim);
      addInPlace(x, projected, b * dim);
      rmsnorm(normed, x, w.ffnNorm, b, dim, normEps);
      matmul(gate, normed, w.w1, b, dim, hiddenDim);
      matmul(up, normed, w.w3, b, dim, hiddenDim);
      swiglu(gate, up, b * hiddenDim);
      matmul(projected, gate, w.w2, b, hiddenDim, dim);
      addInPlace(x, projected, b * dim);
    }
    rmsnorm(normed, x, weights.finalNorm, b, dim, normEps);
    const logits = new Float32Array(b * vocabSize);
    matmul(logits, normed, weights.classifier, b, dim, vocabSize);
    return Array.from({ length: b }, (_, i) => logits.subarray(i * vocabSize, (i + 1) * vocabSize));
  }

  /** Final norm of `this.x` and the classifier, into `this.logits`. */
  private classify(): Float32Array {
    const { dim, vocabSize, normEps } = this.model.config;
    rmsnorm(this.normed, this.x, this.model.weights.finalNorm, 1, dim, normEps);
    matmul(this.logits, this.normed, this.model.weights.classifier, 1, dim, vocabSize);
    return this.logits;
  }

  /** softmax(QK^T / sqrt(d)) V over positions `s <= t` for every token `t` and query head. */
  private causalAttention(out: Float32Array, queries: Float32Array, keys: Float32Array, values: Float32Array, n: number): void {
    const { queryHeads, kvHeads, headDim } = this.model.config;
    const group = queryHeads / kvHeads;
    const qDim = queryHeads * headDim;
    const kvDim = kvHeads * headDim;
    const scale = 1 / Math.sqrt(headDim);
    const weights = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < queryHeads; h++) {
        const q = t * qDim + h * headDim;
        const kv = Math.floor(h / group) * headDim;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          const logit = dot(queries, q, keys, s * kvDim + kv, headDim) * scale;
          weights[s] = logit;
          if (logit > max) max = logit;
        }
        let total = 0;
        for (let s = 0; s <= t; s++) {
          const e = Math.exp(weights[s]! - max);
          weights[s] = e;
          total += e;
        }
        out.fill(0, q, q + headDim);
        for (let s = 0; s <= t; s++) {
          const weight = weights[s]! / total;
          const v = s * kvDim + kv;
          for (let i = 0; i < headDim; i++) out[q + i] = out[q + i]! + weight * values[v + i]!;
        }
      }
    }
  }

  private embeddingRow(token: number): Float32Array {
    const { dim } = this.model.config;
    checkToken(this.model.config, token);
    return this.model.weights.tokenEmbedding.subarray(token * dim, (token + 1) * dim);
  }
}
