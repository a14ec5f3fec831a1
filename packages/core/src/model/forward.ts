import { OptionError } from '../errors.js';
import type { KvStore } from '../store.js';
import { addInPlace, addRows, dot, matmul, rmsnorm, swiglu } from './cpu-math.js';
import type { Model } from './model.js';
import type { LayerObservation } from './observation.js';
import { checkLogits, checkPosition, checkPrefillInput, checkToken } from './forward-checks.js';
import { applyRope } from './rope.js';
import { argmax } from './sampler.js';
import type { LayerWeights } from './weights.js';

/** Result of a batched prefill: the next-token logits after the last prompt token, and what each layer saw. */
export interface PrefillOutput {
  /** Logits predicting the token after the prompt `[vocabSize]`. */
  readonly logits: Float32Array;
  /** What each layer saw, first to last. */
  readonly observations: LayerObservation[];
}

/** Where a prefill starts, and whether it returns what each layer saw. */
export interface PrefillOptions {
  /**
   * Position of the first token (default 0: a new sequence, the store empty). A later chunk of a long
   * prompt starts where the store ends and attends to everything the store holds before it.
   */
  readonly start?: number;
  /**
   * Return each layer's q, k, v of the tokens (default true). False saves their copies when a long
   * prompt goes through in chunks; a store that records queries records the last rows either way.
   */
  readonly observations?: boolean;
}

/** Parameters of a model's weights (RoPE tables excluded; a tied classifier counted once). */
export function parameterCount(model: Model): number {
  const { weights } = model;
  let total = weights.tokenEmbedding.length + weights.finalNorm.length;
  if (weights.classifier !== weights.tokenEmbedding) total += weights.classifier.length;
  for (const layer of weights.layers) for (const tensor of Object.values(layer)) total += tensor.length;
  return total;
}

/** The activations of `rows` tokens going through the layers together (one sequence's prompt, or a batch). */
class Activations {
  readonly x: Float32Array;
  readonly normed: Float32Array;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly attention: Float32Array;
  readonly projected: Float32Array;
  readonly gate: Float32Array;
  readonly up: Float32Array;

  constructor(readonly rows: number, model: Model) {
    const { dim, hiddenDim, queryHeads, kvHeads, headDim } = model.config;
    this.x = new Float32Array(rows * dim);
    this.normed = new Float32Array(rows * dim);
    this.q = new Float32Array(rows * queryHeads * headDim);
    this.k = new Float32Array(rows * kvHeads * headDim);
    this.v = new Float32Array(rows * kvHeads * headDim);
    this.attention = new Float32Array(rows * queryHeads * headDim);
    this.projected = new Float32Array(rows * dim);
    this.gate = new Float32Array(rows * hiddenDim);
    this.up = new Float32Array(rows * hiddenDim);
  }
}

/** How a layer's rows attend: after RoPE, given q, k, v of every row, fill `attention` (and store K/V). */
type Attend = (layer: number, a: Activations) => Promise<void>;

/**
 * The LLaMA forward pass on the CPU, as llama2.c computes it: RMSNorm, RoPE on adjacent pairs,
 * grouped-query attention, SwiGLU, final norm and classifier. One layer recipe (`layer`) serves
 * prefill (the prompt's rows attend causally among themselves), decode and batched decode (each row
 * appends to its sequence's store and attends through it); the GPU decoder mirrors the same recipe.
 * Decode buffers are allocated once, so a decoded token allocates nothing but what the store does.
 * One instance per runner: its buffers are not shared between concurrent calls.
 */
export class Transformer {
  private readonly single: Activations;
  private readonly logits: Float32Array;
  private readonly position = new Int32Array(1);

  /** f32 arrays: 4 bytes per parameter. */
  readonly weights: {
    /** Bytes the weights occupy. */
    readonly residentBytes: number;
    /** Weights (parameters) the model holds, a tied classifier counted once. */
    readonly parameters: number;
  };

  /** @param model The model to run. */
  constructor(readonly model: Model) {
    this.single = new Activations(1, model);
    this.logits = new Float32Array(model.config.vocabSize);
    const parameters = parameterCount(model);
    this.weights = { residentBytes: parameters * Float32Array.BYTES_PER_ELEMENT, parameters };
  }

  /**
   * Runs `tokens` at positions `start .. start+n-1` as one batch, appends their post-RoPE K/V to
   * `store` (empty when `start` is 0) and returns the logits that predict position `start+n`. Each
   * row attends causally to what the store holds up to its position: its chunk and those before.
   */
  async prefill(tokens: ArrayLike<number>, store: KvStore, options: PrefillOptions = {}): Promise<PrefillOutput> {
    const { config } = this.model;
    const n = tokens.length;
    const start = options.start ?? 0;
    checkPrefillInput(config, tokens, store, start);
    const a = new Activations(n, this.model);
    const positions = Int32Array.from({ length: n }, (_, t) => start + t);
    const observations: LayerObservation[] = [];
    await this.run(Array.from(tokens), positions, a, async (layer) => {
      store.append(layer, a.k, a.v, positions);
      await this.attendThroughStore(layer, a, positions, store);
      store.seedQueries(layer, a.q, positions); // a no-op unless the store records queries
      if (options.observations ?? true) observations.push({ queries: a.q.slice(), keys: a.k.slice(), values: a.v.slice() });
    });
    return { logits: Float32Array.from(this.classify(a, n - 1)), observations };
  }

  /**
   * Runs one token at `position`: appends its K/V to `store`, attends through `store.attend`, and
   * returns the next-token logits. The returned array is reused by the next call.
   */
  async decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    checkPosition(this.model.config, position);
    this.position[0] = position;
    const a = this.single;
    await this.run([token], this.position, a, async (layer) => {
      store.append(layer, a.k, a.v, this.position);
      await store.attend(layer, a.q, a.attention);
    });
    return this.classify(a, 0);
  }

  /**
   * One decode step for several sequences at once: the matrix products run over the whole batch
   * (weights read once per step), attention runs per sequence through its own store. Row `i` of the
   * result equals what `decode(tokens[i], positions[i], stores[i])` returns, bit for bit.
   */
  async decodeBatch(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<Float32Array[]> {
    const { config } = this.model;
    const { queryHeads, kvHeads, headDim, vocabSize } = config;
    const b = tokens.length;
    if (positions.length !== b || stores.length !== b) {
      throw new OptionError(`decodeBatch: ${b} tokens, ${positions.length} positions and ${stores.length} stores must match.`);
    }
    positions.forEach((position) => checkPosition(config, position));
    const a = new Activations(b, this.model);
    const [qDim, kvDim] = [queryHeads * headDim, kvHeads * headDim];
    await this.run(tokens, positions, a, async (layer) => {
      for (let i = 0; i < b; i++) {
        stores[i]!.append(layer, a.k.subarray(i * kvDim, (i + 1) * kvDim), a.v.subarray(i * kvDim, (i + 1) * kvDim), Int32Array.of(positions[i]!));
        await stores[i]!.attend(layer, a.q.subarray(i * qDim, (i + 1) * qDim), a.attention.subarray(i * qDim, (i + 1) * qDim));
      }
    });
    const { dim, normEps } = config;
    const logits = new Float32Array(b * vocabSize);
    rmsnorm(a.normed, a.x, this.model.weights.finalNorm, b, dim, normEps);
    matmul(logits, a.normed, this.model.weights.classifier, b, dim, vocabSize); // the classifier read once for the batch
    return Array.from({ length: b }, (_, i) => logits.subarray(i * vocabSize, (i + 1) * vocabSize));
  }

  /** {@link decodeBatch}, then each sequence's most likely next token (INVALID_NUMBER for non-finite logits). */
  async decodeGreedy(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<number[]> {
    const logits = tokens.length === 1 ? [await this.decode(tokens[0]!, positions[0]!, stores[0]!)] : await this.decodeBatch(tokens, positions, stores);
    return logits.map((row, i) => argmax(checkLogits(row, positions[i]! + 1)));
  }

  /** Embeds `tokens` into `a.x` and runs every layer over them. */
  private async run(tokens: readonly number[], positions: ArrayLike<number>, a: Activations, attend: Attend): Promise<void> {
    const { config, weights } = this.model;
    tokens.forEach((token, t) => a.x.set(this.embeddingRow(token), t * config.dim));
    for (let layer = 0; layer < config.layers; layer++) await this.layer(layer, weights.layers[layer]!, positions, a, attend);
  }

  /**
   * The LLaMA layer: norm -> q/k/v projections (+ biases, Qwen 2) -> RoPE -> attention (by `attend`) -> output
   * projection + residual -> norm -> gate/up -> SwiGLU -> down projection + residual.
   */
  private async layer(layer: number, w: LayerWeights, positions: ArrayLike<number>, a: Activations, attend: Attend): Promise<void> {
    const { dim, hiddenDim, queryHeads, kvHeads, headDim, normEps } = this.model.config;
    const { ropeCos, ropeSin } = this.model.weights;
    const n = a.rows;
    const [qDim, kvDim] = [queryHeads * headDim, kvHeads * headDim];
    rmsnorm(a.normed, a.x, w.attentionNorm, n, dim, normEps);
    matmul(a.q, a.normed, w.wq, n, dim, qDim);
    matmul(a.k, a.normed, w.wk, n, dim, kvDim);
    matmul(a.v, a.normed, w.wv, n, dim, kvDim);
    if (w.bq) addRows(a.q, w.bq, n);
    if (w.bk) addRows(a.k, w.bk, n);
    if (w.bv) addRows(a.v, w.bv, n);
    const style = this.model.config.ropeStyle ?? 'adjacent';
    for (let t = 0; t < n; t++) {
      applyRope(a.q, t * qDim, queryHeads, headDim, positions[t]!, ropeCos, ropeSin, style);
      applyRope(a.k, t * kvDim, kvHeads, headDim, positions[t]!, ropeCos, ropeSin, style);
    }
    await attend(layer, a);
    matmul(a.projected, a.attention, w.wo, n, qDim, dim);
    addInPlace(a.x, a.projected, n * dim);
    rmsnorm(a.normed, a.x, w.ffnNorm, n, dim, normEps);
    matmul(a.gate, a.normed, w.w1, n, dim, hiddenDim);
    matmul(a.up, a.normed, w.w3, n, dim, hiddenDim);
    swiglu(a.gate, a.up, n * hiddenDim);
    matmul(a.projected, a.gate, w.w2, n, hiddenDim, dim);
    addInPlace(a.x, a.projected, n * dim);
  }

  /** Final norm of row `row` of `a.x` and the classifier, into `this.logits`. */
  private classify(a: Activations, row: number): Float32Array {
    const { dim, vocabSize, normEps } = this.model.config;
    const normed = this.single.normed;
    rmsnorm(normed, a.x.subarray(row * dim, (row + 1) * dim), this.model.weights.finalNorm, 1, dim, normEps);
    matmul(this.logits, normed, this.model.weights.classifier, 1, dim, vocabSize);
    return this.logits;
  }

  /** softmax(QK^T / sqrt(d)) V of every row and query head over its KV head's stored entries at positions up to the row's own. */
  private async attendThroughStore(layer: number, a: Activations, positions: Int32Array, store: KvStore): Promise<void> {
    const { queryHeads, kvHeads, headDim } = this.model.config;
    const group = queryHeads / kvHeads;
    const qDim = queryHeads * headDim;
    const scale = 1 / Math.sqrt(headDim);
    for (let h = 0; h < kvHeads; h++) {
      const [keys, values] = await Promise.all([store.keys(layer, h), store.values(layer, h)]);
      const stored = store.positions(layer, h);
      const weights = new Float64Array(stored.length);
      for (let t = 0; t < a.rows; t++) {
        let visible = 0; // stored positions ascend: the row sees a prefix
        while (visible < stored.length && stored[visible]! <= positions[t]!) visible++;
        for (let m = 0; m < group; m++) {
          const q = t * qDim + (h * group + m) * headDim;
          let max = -Infinity;
          for (let s = 0; s < visible; s++) {
            const logit = dot(a.q, q, keys, s * headDim, headDim) * scale;
            weights[s] = logit;
            if (logit > max) max = logit;
          }
          let total = 0;
          for (let s = 0; s < visible; s++) {
            const e = Math.exp(weights[s]! - max);
            weights[s] = e;
            total += e;
          }
          a.attention.fill(0, q, q + headDim);
          for (let s = 0; s < visible; s++) {
            const weight = weights[s]! / total;
            for (let i = 0; i < headDim; i++) a.attention[q + i] = a.attention[q + i]! + weight * values[s * headDim + i]!;
          }
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
