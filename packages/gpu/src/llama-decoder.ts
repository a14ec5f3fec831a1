import { type GpuContext, largestStorageBuffer } from './device.js';
import type { Dispatcher, StagedRead } from './dispatcher.js';
import { GpuError, mib } from './errors.js';
import { MAX_CAUSAL_TOKENS, encodeArgmax, encodeCausalAttention, encodeMatmul, encodeMatvec } from './model-ops.js';
import type { GpuPagedCache } from './paged-cache.js';

export interface LlamaShape {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly layers: number;
  readonly queryHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly normEps: number;
}

export interface LlamaLayerWeights {
  readonly attentionNorm: Float32Array;
  readonly wq: Float32Array;
  readonly wk: Float32Array;
  readonly wv: Float32Array;
  readonly wo: Float32Array;
  readonly ffnNorm: Float32Array;
  readonly w1: Float32Array;
  readonly w2: Float32Array;
  readonly w3: Float32Array;
}

export interface LlamaWeights {
  readonly tokenEmbedding: Float32Array;
  readonly layers: readonly LlamaLayerWeights[];
  readonly finalNorm: Float32Array;
  readonly classifier: Float32Array;
  readonly ropeCos: Float32Array;
  readonly ropeSin: Float32Array;
}

/** What a GPU prefill returns: the next-token logits and each layer's post-RoPE q, k, v. */
export interface LlamaPrefill {
  readonly logits: Float32Array;
  readonly observations: { readonly queries: Float32Array; readonly keys: Float32Array; readonly values: Float32Array }[];
}

const MATRICES = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;

/** Throws DEVICE_OUT_OF_MEMORY, before anything is uploaded, for a tensor larger than the device's largest storage buffer. */
function checkTensorSizes(gpu: GpuContext, weights: LlamaWeights): void {
  const limit = largestStorageBuffer(gpu);
  const tensors: [string, Float32Array][] = [
    ['token embedding', weights.tokenEmbedding],
    ['classifier', weights.classifier],
    ...weights.layers.flatMap((layer, l) => MATRICES.map((name): [string, Float32Array] => [`layer ${l} ${name}`, layer[name]])),
  ];
  for (const [name, tensor] of tensors) {
    if (tensor.byteLength > limit) {
      throw new GpuError('DEVICE_OUT_OF_MEMORY', `The model's ${name} takes ${mib(tensor.byteLength)}, more than this device's largest storage buffer (${mib(limit)}); run the model on the CPU.`);
    }
  }
}

/**
 * The LLaMA forward pass on the GPU. Decode: RMSNorm, the projections (matvec kernels), RoPE, the K/V
 * append and paged attention of a {@link GpuPagedCache}, SwiGLU, residuals, the final norm and
 * classifier, one submission per token, only the logits come back. Prefill: the same layers over the
 * whole prompt with tiled matrix products and causal attention, one submission. Weights are uploaded once.
 */
export class GpuLlamaDecoder {
  private readonly buffers: GPUBuffer[] = [];
  private readonly layerWeights: Record<(typeof MATRICES)[number] | 'attentionNorm' | 'ffnNorm', GPUBuffer>[];
  private readonly embedding: GPUBuffer;
  private readonly finalNorm: GPUBuffer;
  private readonly classifier: GPUBuffer;
  private readonly ropeCos: GPUBuffer;
  private readonly ropeSin: GPUBuffer;

  constructor(readonly gpu: GpuContext, readonly shape: LlamaShape, weights: LlamaWeights) {
    if (weights.layers.length !== shape.layers) throw new GpuError('INVALID_ARGUMENT', `Expected ${shape.layers} layers of weights, got ${weights.layers.length}.`);
    checkTensorSizes(gpu, weights);
    this.layerWeights = weights.layers.map((layer) => ({
      attentionNorm: this.upload(layer.attentionNorm),
      ffnNorm: this.upload(layer.ffnNorm),
      ...Object.fromEntries(MATRICES.map((name) => [name, this.upload(layer[name])])),
    }) as GpuLlamaDecoder['layerWeights'][number]);
    this.embedding = this.upload(weights.tokenEmbedding);
    this.finalNorm = this.upload(weights.finalNorm);
    this.classifier = weights.classifier === weights.tokenEmbedding ? this.embedding : this.upload(weights.classifier);
    this.ropeCos = this.upload(weights.ropeCos);
    this.ropeSin = this.upload(weights.ropeSin);
  }

  private upload(data: Float32Array): GPUBuffer {
    const device = this.gpu.device;
    device.pushErrorScope('out-of-memory');
    const buffer = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    void device.popErrorScope().then((error) => {
      if (error) this.outOfMemory = error.message;
    });
    device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    this.buffers.push(buffer);
    return buffer;
  }

  private outOfMemory: string | null = null;

  /** Forwards `token` at `position` through every layer, appending its K/V to `cache`; returns the logits. */
  async decode(token: number, position: number, cache: GpuPagedCache): Promise<Float32Array> {
    const d = cache.dispatcher;
    const logits = this.encodeForward([token], position, cache);
    return new Float32Array(await d.read(logits, this.shape.vocabSize * 4));
  }

  /** {@link decode} for greedy decoding: the argmax is taken on the GPU (ties to the lower index), so 4 bytes come back, not the logits. */
  async decodeGreedy(token: number, position: number, cache: GpuPagedCache): Promise<number> {
    const d = cache.dispatcher;
    const logits = this.encodeForward([token], position, cache);
    const best = d.temp(4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    encodeArgmax(d, logits, best, this.shape.vocabSize);
    return new Uint32Array(await d.read(best, 4))[0]!;
  }

  /**
   * Whether a prompt of `tokens` fits this device's limits for {@link prefill}: its largest activation
   * (`tokens x` the hidden size) must fit one storage binding, and the tokens one attention dispatch.
   */
  prefillFits(tokens: number): boolean {
    const { dim, hiddenDim, queryHeads, headDim } = this.shape;
    const largest = tokens * Math.max(dim, hiddenDim, queryHeads * headDim) * 4;
    return tokens <= MAX_CAUSAL_TOKENS && largest <= largestStorageBuffer(this.gpu) && headDim <= 256;
  }

  /**
   * Runs the prompt `tokens` at positions `0 .. n-1` as one batch into the empty `cache`: matrix
   * products over all tokens, causal attention over the prompt, K/V appended; one submission. Returns
   * the logits after the last token and, per layer, the post-RoPE queries, keys and values.
   */
  async prefill(tokens: ArrayLike<number>, cache: GpuPagedCache): Promise<LlamaPrefill> {
    const { layers, kvHeads, queryHeads, headDim, vocabSize } = this.shape;
    const n = tokens.length;
    if (n === 0) throw new GpuError('INVALID_ARGUMENT', 'prefill: there are no tokens; give at least one.');
    if (!this.prefillFits(n)) throw new GpuError('INVALID_ARGUMENT', `prefill: ${n} tokens exceed this device's limits (see prefillFits); prefill on the CPU.`);
    for (let layer = 0; layer < layers; layer++) {
      for (let head = 0; head < kvHeads; head++) {
        if (cache.length(layer, head) !== 0) throw new GpuError('INVALID_ARGUMENT', 'prefill: the cache already holds rows; prefill starts a sequence.');
      }
    }
    const d = cache.dispatcher;
    const [qBytes, kvBytes] = [n * queryHeads * headDim * 4, n * kvHeads * headDim * 4];
    const staged: StagedRead[] = [];
    const logits = this.encodeForward(Array.from(tokens), 0, cache, (q, k, v) => staged.push(d.stage(q, qBytes), d.stage(k, kvBytes), d.stage(v, kvBytes)));
    staged.push(d.stage(logits, vocabSize * 4));
    const bytes = await d.readStaged(staged);
    const observations = Array.from({ length: layers }, (_, layer) => ({
      queries: new Float32Array(bytes[3 * layer]!),
      keys: new Float32Array(bytes[3 * layer + 1]!),
      values: new Float32Array(bytes[3 * layer + 2]!),
    }));
    return { logits: new Float32Array(bytes[3 * layers]!), observations };
  }

  /**
   * Encodes the forward pass of `tokens` at `position ..`: one token attends over the paged cache
   * (decode), several attend causally among themselves (prefill, from position 0). `observe` sees
   * each layer's post-RoPE q, k, v. Returns the buffer the last token's logits will be in.
   */
  private encodeForward(tokens: readonly number[], position: number, cache: GpuPagedCache, observe?: (q: GPUBuffer, k: GPUBuffer, v: GPUBuffer) => void): GPUBuffer {
    const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength, normEps } = this.shape;
    if (this.outOfMemory) throw new GpuError('DEVICE_OUT_OF_MEMORY', `The model's weights did not fit on the GPU: ${this.outOfMemory}`);
    const n = tokens.length;
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= vocabSize) throw new GpuError('INVALID_ARGUMENT', `token ${token} is outside the vocabulary of ${vocabSize}.`);
    }
    if (!Number.isInteger(position) || position < 0 || position + n > contextLength) {
      throw new GpuError('INVALID_ARGUMENT', `positions ${position}..${position + n - 1} are outside the context of ${contextLength}.`);
    }
    const d: Dispatcher = cache.dispatcher;
    const scratch = (floats: number) => d.temp(floats * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const [x, normed, q, k, v, attention, projected, gate, up] = [dim, dim, queryHeads * headDim, kvHeads * headDim, kvHeads * headDim, queryHeads * headDim, dim, hiddenDim, hiddenDim].map((size) => scratch(n * size)) as GPUBuffer[];
    tokens.forEach((token, t) => d.copy(this.embedding, token * dim * 4, x!, t * dim * 4, dim * 4));
    const project = (w: GPUBuffer, input: GPUBuffer, out: GPUBuffer, inDim: number, outDim: number) => {
      if (n === 1) encodeMatvec(d, w, input, out, { inDim, outDim });
      else encodeMatmul(d, input, w, out, { rows: n, inDim, outDim });
    };
    const rmsnorm = (input: GPUBuffer, weight: GPUBuffer, out: GPUBuffer, rows = n) => d.run('rmsnorm', { dim, weightOffset: 0, eps: normEps, rows }, [input, weight, out], { groups: rows });
    const elementwise = (op: number, a: GPUBuffer, b: GPUBuffer, length: number) => d.run('elementwise', { length: n * length, op }, [a, b], { threads: n * length });
    const positions = Int32Array.from({ length: n }, (_, t) => position + t);
    for (let layer = 0; layer < layers; layer++) {
      const w = this.layerWeights[layer]!;
      rmsnorm(x!, w.attentionNorm, normed!);
      project(w.wq, normed!, q!, dim, queryHeads * headDim);
      project(w.wk, normed!, k!, dim, kvHeads * headDim);
      project(w.wv, normed!, v!, dim, kvHeads * headDim);
      for (const [vectors, heads] of [[q!, queryHeads], [k!, kvHeads]] as const) {
        d.run('rope', { heads, headDim, position, tokens: n }, [vectors, this.ropeCos, this.ropeSin], { threads: (n * heads * headDim) / 2 });
      }
      observe?.(q!, k!, v!);
      cache.encodeAppend(layer, k!, v!, positions);
      if (n === 1) cache.encodeAttend(layer, q!, attention!);
      else encodeCausalAttention(d, q!, k!, v!, attention!, { tokens: n, queryHeads, kvHeads, headDim });
      project(w.wo, attention!, projected!, queryHeads * headDim, dim);
      elementwise(0, x!, projected!, dim);
      rmsnorm(x!, w.ffnNorm, normed!);
      project(w.w1, normed!, gate!, dim, hiddenDim);
      project(w.w3, normed!, up!, dim, hiddenDim);
      elementwise(1, gate!, up!, hiddenDim);
      project(w.w2, gate!, projected!, hiddenDim, dim);
      elementwise(0, x!, projected!, dim);
    }
    const last = n === 1 ? x! : scratch(dim);
    if (n > 1) d.copy(x!, (n - 1) * dim * 4, last, 0, dim * 4);
    const logits = scratch(vocabSize);
    rmsnorm(last, this.finalNorm, normed!, 1);
    encodeMatvec(d, this.classifier, normed!, logits, { inDim: dim, outDim: vocabSize });
    return logits;
  }

  /** Frees the uploaded weights. */
  destroy(): void {
    for (const buffer of this.buffers.splice(0)) buffer.destroy();
  }
}
