import { type GpuContext, largestStorageBuffer } from './device.js';
import type { Dispatcher, StagedRead } from './dispatcher.js';
import { GpuError, mib } from './errors.js';
import { MAX_CAUSAL_TOKENS, encodeArgmax, encodeCausalAttention, encodeMatmul, encodeMatvec, readArgmaxRows } from './model-ops.js';
import { GpuMixedCache } from './mixed-cache.js';
import { GpuPagedCache } from './paged-cache.js';

/** A sequence's K/V a decode step appends to and attends over: one format, or a format per head (decoded alone). */
export type DecodeCache = GpuPagedCache | GpuMixedCache;

/** The dimensions of a LLaMA-family model, as the GPU decoder needs them. */
export interface LlamaShape {
  /** Width of the residual stream (the embedding size). */
  readonly dim: number;
  /** Width of the feed-forward network's hidden layer. */
  readonly hiddenDim: number;
  /** Transformer layers. */
  readonly layers: number;
  /** Attention (query) heads per layer. */
  readonly queryHeads: number;
  /** Key/value heads per layer (fewer than query heads with grouped-query attention). */
  readonly kvHeads: number;
  /** Width of one head. */
  readonly headDim: number;
  /** Tokens in the vocabulary (rows of the logits). */
  readonly vocabSize: number;
  /** Most positions the model (and its RoPE tables) covers. */
  readonly contextLength: number;
  /** The epsilon of RMS normalization. */
  readonly normEps: number;
  /**
   * Which dimensions RoPE rotates together: `adjacent` pairs `(2j, 2j + 1)` (the default: llama2.c and
   * GGUF `llama`) or `neox` pairs `(j, j + headDim / 2)` (rotate-half: GGUF `qwen2`). Either way pair
   * `j` at position `p` takes row `p` entry `j` of the cos/sin tables (frequency scaling baked in).
   */
  readonly ropeStyle?: 'adjacent' | 'neox';
}

/** One layer's weights, f32, matrices row-major `[out][in]` as llama2.c and GGUF store them. */
export interface LlamaLayerWeights {
  /** RMS-norm weight before attention `[dim]`. */
  readonly attentionNorm: Float32Array;
  /** Query projection `[queryHeads * headDim][dim]`. */
  readonly wq: Float32Array;
  /** Key projection `[kvHeads * headDim][dim]`. */
  readonly wk: Float32Array;
  /** Value projection `[kvHeads * headDim][dim]`. */
  readonly wv: Float32Array;
  /** Attention output projection `[dim][queryHeads * headDim]`. */
  readonly wo: Float32Array;
  /** RMS-norm weight before the feed-forward network `[dim]`. */
  readonly ffnNorm: Float32Array;
  /** Feed-forward gate projection `[hiddenDim][dim]`. */
  readonly w1: Float32Array;
  /** Feed-forward down projection `[dim][hiddenDim]`. */
  readonly w2: Float32Array;
  /** Feed-forward up projection `[hiddenDim][dim]`. */
  readonly w3: Float32Array;
  /** Query projection bias `[queryHeads * headDim]`, added right after the projection, before RoPE (Qwen 2). */
  readonly bq?: Float32Array;
  /** Key projection bias `[kvHeads * headDim]`, added right after the projection, before RoPE (Qwen 2). */
  readonly bk?: Float32Array;
  /** Value projection bias `[kvHeads * headDim]`, added right after the projection (Qwen 2). */
  readonly bv?: Float32Array;
}

/** A whole model's weights for {@link GpuLlamaDecoder}, f32. */
export interface LlamaWeights {
  /** Token embeddings `[vocabSize][dim]`. */
  readonly tokenEmbedding: Float32Array;
  /** Every layer's weights, first to last. */
  readonly layers: readonly LlamaLayerWeights[];
  /** RMS-norm weight after the last layer `[dim]`. */
  readonly finalNorm: Float32Array;
  /**
   * Output projection to the logits `[vocabSize][dim]` (may be the token embedding itself, then uploaded
   * once).
   */
  readonly classifier: Float32Array;
  /** RoPE cosine table `[contextLength][headDim / 2]`. */
  readonly ropeCos: Float32Array;
  /** RoPE sine table `[contextLength][headDim / 2]`. */
  readonly ropeSin: Float32Array;
}

/** How {@link GpuLlamaDecoder.prefill} runs a prompt, or a chunk of one. */
export interface LlamaPrefillOptions {
  /**
   * The position of the first token (default 0): a chunk of a prompt after earlier ones, whose K/V
   * the cache holds already (every KV head of every layer exactly positions `0 .. start-1`, as earlier
   * prefills of the same sequence leave it; else INVALID_ARGUMENT). The chunk's rows attend causally
   * over those entries and the chunk's earlier rows.
   */
  readonly start?: number;
  /**
   * Whether to read back each layer's post-RoPE q, k and v of the chunk (default true); false reads
   * back only the logits, and `observations` is empty.
   */
  readonly observe?: boolean;
  /**
   * Whether to copy the chunk's query rows into the cache's query rings when its recording is on
   * (`recordQueries`; the rings keep their last rows), so decode-time eviction after a chunked
   * prefill scores from the prompt's last rows. Default: true when `start` is given, false otherwise
   * (a whole-prompt prefill leaves that to `seedQueries` from its observations, as before).
   */
  readonly record?: boolean;
}

/** What a GPU prefill returns: the next-token logits and each layer's post-RoPE q, k, v. */
export interface LlamaPrefill {
  /** Logits predicting the token after the prompt (or chunk) `[vocabSize]`. */
  readonly logits: Float32Array;
  /**
   * Per layer, the prompt's (or chunk's) rows after RoPE (for compression planning):
   * `[tokens][heads][headDim]` each; empty with `observe: false`.
   */
  readonly observations: {
    /** Query rows of every query head. */
    readonly queries: Float32Array;
    /** Key rows of every KV head. */
    readonly keys: Float32Array;
    /** Value rows of every KV head. */
    readonly values: Float32Array;
  }[];
}

const MATRICES = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;
const BIASES = ['bq', 'bk', 'bv'] as const;

/** Throws INVALID_ARGUMENT for a RoPE style or a bias the shape does not allow. */
function checkShapeAndBiases(shape: LlamaShape, weights: LlamaWeights): void {
  const { ropeStyle, queryHeads, kvHeads, headDim } = shape;
  if (ropeStyle !== undefined && ropeStyle !== 'adjacent' && ropeStyle !== 'neox') {
    throw new GpuError('INVALID_ARGUMENT', `ropeStyle must be 'adjacent' or 'neox', got ${String(ropeStyle)}.`);
  }
  const widths = { bq: queryHeads * headDim, bk: kvHeads * headDim, bv: kvHeads * headDim };
  weights.layers.forEach((layer, l) => {
    for (const name of BIASES) {
      const bias = layer[name];
      if (bias !== undefined && bias.length !== widths[name]) {
        throw new GpuError('INVALID_ARGUMENT', `layer ${l} ${name} has ${bias.length} floats; the shape needs ${widths[name]}.`);
      }
    }
  });
}

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

/** The activations of `rows` tokens going through the layers together: a prompt, or one token per sequence of a batch. */
interface Activations {
  readonly rows: number;
  readonly x: GPUBuffer;
  readonly normed: GPUBuffer;
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly attention: GPUBuffer;
  readonly projected: GPUBuffer;
  readonly gate: GPUBuffer;
  readonly up: GPUBuffer;
}

/** What differs between a prompt and a decode step: how rows are projected, rotated, stored and attended. */
interface Pass {
  /** `out = input w^T` over the activations' rows. */
  project(w: GPUBuffer, input: GPUBuffer, out: GPUBuffer, inDim: number, outDim: number): void;
  /** RoPE of every row of `vectors` (`heads` heads each) at its position, in the model's style. */
  rope(vectors: GPUBuffer, heads: number): void;
  /** The K/V append into the paged cache(s) and the attention of every row into `a.attention`. */
  appendAndAttend(layer: number, a: Activations): void;
}

/**
 * The LLaMA forward pass on the GPU, as core's CPU pass computes it (packages/core/src/model/forward.ts):
 * one layer recipe (`encodeLayer`) serves prefill (a prompt's rows attend causally among
 * themselves: tiled matrix products, causal attention) and decode (one token per sequence, each
 * appending to its paged cache and attending through it: batched matrix-vector products, paged
 * flash-decoding). Each call is one submission; only logits (or argmax indices) come back. Weights
 * are uploaded once.
 */
export class GpuLlamaDecoder {
  private readonly buffers: GPUBuffer[] = [];
  private readonly layerWeights: (Record<(typeof MATRICES)[number] | 'attentionNorm' | 'ffnNorm', GPUBuffer> & Partial<Record<(typeof BIASES)[number], GPUBuffer>>)[];
  private readonly embedding: GPUBuffer;
  private readonly finalNorm: GPUBuffer;
  private readonly classifier: GPUBuffer;
  private readonly ropeCos: GPUBuffer;
  private readonly ropeSin: GPUBuffer;
  /** Whether RoPE rotates NeoX (rotate-half) pairs. */
  private readonly neox: boolean;

  /**
   * @param gpu The device the weights live on.
   * @param shape The model's dimensions.
   */
  constructor(readonly gpu: GpuContext, readonly shape: LlamaShape, weights: LlamaWeights) {
    if (weights.layers.length !== shape.layers) throw new GpuError('INVALID_ARGUMENT', `Expected ${shape.layers} layers of weights, got ${weights.layers.length}.`);
    checkShapeAndBiases(shape, weights);
    checkTensorSizes(gpu, weights);
    this.neox = shape.ropeStyle === 'neox';
    this.layerWeights = weights.layers.map((layer) => ({
      attentionNorm: this.upload(layer.attentionNorm),
      ffnNorm: this.upload(layer.ffnNorm),
      ...Object.fromEntries(MATRICES.map((name) => [name, this.upload(layer[name])])),
      ...Object.fromEntries(BIASES.flatMap((name) => (layer[name] ? [[name, this.upload(layer[name])]] : []))),
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
  async decode(token: number, position: number, cache: DecodeCache): Promise<Float32Array> {
    return (await this.decodeBatch([token], [position], [cache]))[0]!;
  }

  /**
   * {@link decode} for greedy decoding: the argmax is taken on the GPU (ties to the lower index), so
   * 4 bytes come back, not the logits; -1 when the logits hold NaN or an infinity.
   */
  async decodeGreedy(token: number, position: number, cache: DecodeCache): Promise<number> {
    return (await this.decodeBatchGreedy([token], [position], [cache]))[0]!;
  }

  /**
   * One decode step for a batch of sequences in one submission: `tokens[i]` at `positions[i]` is
   * appended to and attends over `caches[i]` (distinct sequences of one {@link GpuKvPool}, else
   * INVALID_ARGUMENT; a {@link GpuMixedCache}, whose heads differ in format, decodes in a batch of one). The projections and the classifier are matrix products over the batch's rows
   * (each weight read serves up to 8 rows), RoPE takes each row's position, one scatter appends every
   * row and one flash-decoding dispatch attends every sequence. Returns the logits of each sequence.
   *
   * Row `i` equals `decode(tokens[i], positions[i], caches[i])`: `decode` is this with a batch of one,
   * and every kernel computes a row with the same arithmetic in the same order whatever the batch, so
   * the results were bit-identical on the adapters tested (SwiftShader); the documented tolerance is
   * 1e-4. The blocks every layer needs are reserved first: POOL_EXHAUSTED (a fixed pool) or
   * DEVICE_OUT_OF_MEMORY (a growing one) is thrown before any cache changes.
   */
  async decodeBatch(tokens: readonly number[], positions: readonly number[], caches: readonly DecodeCache[]): Promise<Float32Array[]> {
    const d = this.checkBatch(tokens, positions, caches);
    const logits = this.encodeBatch(tokens, positions, caches);
    const vocabSize = this.shape.vocabSize;
    const bytes = await d.read(logits, tokens.length * vocabSize * 4);
    return tokens.map((_, i) => new Float32Array(bytes, i * vocabSize * 4, vocabSize));
  }

  /**
   * {@link decodeBatch} for greedy decoding: each sequence's argmax is taken on the GPU (ties to the
   * lower index), so 4 bytes per sequence come back; -1 for a sequence whose logits hold NaN or an infinity.
   */
  async decodeBatchGreedy(tokens: readonly number[], positions: readonly number[], caches: readonly DecodeCache[]): Promise<number[]> {
    const d = this.checkBatch(tokens, positions, caches);
    const logits = this.encodeBatch(tokens, positions, caches);
    const best = d.temp(tokens.length * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    encodeArgmax(d, logits, best, this.shape.vocabSize, tokens.length);
    return readArgmaxRows(d, best, tokens.length);
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
   * products over all tokens, causal attention over the prompt, K/V appended; one submission (an int8 /
   * int4 cache: the K/V appended first and attended as stored, encoded blocks and f32 residual rows,
   * as the WASM engine's prefill does). Returns the logits after the last token and, per layer, the
   * post-RoPE queries, keys and values (as computed, before any quantization).
   *
   * With `options.start`, `tokens` is a chunk of a longer prompt at positions `start .. start+n-1`
   * (chunked prefill: a long prompt in bounded memory): the cache must hold the sequence's first
   * `start` entries (every KV head of every layer exactly positions `0 .. start-1`), the chunk's K/V
   * are appended and each of its rows attends causally over the cached entries and the chunk's earlier
   * rows, read in place through the block tables. Prefilling a prompt in chunks gives the logits and
   * cached K/V of one prefill (within 1e-4; with f32 storage and chunks of two or more tokens, each
   * row's arithmetic is the one prefill's). The chunk's
   * query rows go to the cache's query rings when its recording is on (see
   * {@link LlamaPrefillOptions.record}); `observe: false` reads back only the logits.
   */
  async prefill(tokens: ArrayLike<number>, cache: GpuPagedCache, options: LlamaPrefillOptions = {}): Promise<LlamaPrefill> {
    const { layers, kvHeads, queryHeads, headDim, vocabSize, dim } = this.shape;
    const { start = 0, observe = true, record = options.start !== undefined } = options;
    const n = tokens.length;
    if ((cache as unknown) instanceof GpuMixedCache) {
      throw new GpuError('INVALID_ARGUMENT', 'prefill: a cache whose heads differ in format holds compressed entries and cannot continue a prefill; prefill into a one-format cache.');
    }
    if (n === 0) throw new GpuError('INVALID_ARGUMENT', 'prefill: there are no tokens; give at least one.');
    if (!Number.isInteger(start) || start < 0) throw new GpuError('INVALID_ARGUMENT', `prefill: start must be an integer >= 0, got ${start}.`);
    if (!this.prefillFits(n)) throw new GpuError('INVALID_ARGUMENT', `prefill: ${n} tokens exceed this device's limits (see prefillFits); prefill on the CPU, or in smaller chunks.`);
    const positions = Int32Array.from({ length: n }, (_, t) => start + t);
    this.checkInput(Array.from(tokens), Array.from(positions), [cache]);
    for (let layer = 0; layer < layers; layer++) {
      if (cache.holdsPrefix(layer, start)) continue;
      throw new GpuError(
        'INVALID_ARGUMENT',
        start === 0
          ? 'prefill: the cache already holds rows; prefill starts a sequence (pass { start } to continue one in chunks).'
          : `prefill: a chunk at start ${start} needs the cache to hold exactly positions 0..${start - 1} in every KV head; layer ${layer} does not (a compacted or different sequence).`,
      );
    }
    GpuPagedCache.reserveAppend(layers, [cache], [n]);
    const d = cache.dispatcher;
    const [qBytes, kvBytes] = [n * queryHeads * headDim * 4, n * kvHeads * headDim * 4];
    const staged: StagedRead[] = [];
    const prompt: Pass = {
      project: (w, input, out, inDim, outDim) => (n === 1 ? encodeMatvec(d, w, input, out, { inDim, outDim }) : encodeMatmul(d, input, w, out, { rows: n, inDim, outDim })),
      rope: (vectors, heads) => d.run(this.neox ? 'ropeNeox' : 'rope', { heads, headDim, position: start, tokens: n }, [vectors, this.ropeCos, this.ropeSin], { threads: (n * heads * headDim) / 2 }),
      appendAndAttend: (layer, a) => {
        if (observe) staged.push(d.stage(a.q, qBytes), d.stage(a.k, kvBytes), d.stage(a.v, kvBytes)); // the observations compression plans from
        cache.encodeAppend(layer, a.k, a.v, positions);
        // int8 / int4: over the stored (encoded) rows, as the WASM pool's prefill attends
        if (start === 0 && !cache.pool.quantized) encodeCausalAttention(d, a.q, a.k, a.v, a.attention, { tokens: n, queryHeads, kvHeads, headDim });
        else cache.encodeCausalAttend(layer, a.q, a.attention, start, n);
        if (record) cache.encodeRecordQueries(layer, a.q, positions);
      },
    };
    const a = this.encodeLayers(d, Array.from(tokens), prompt);
    const last = n === 1 ? a.x : d.temp(dim * 4, GPUBufferUsage.STORAGE);
    if (n > 1) d.copy(a.x, (n - 1) * dim * 4, last, 0, dim * 4);
    staged.push(d.stage(this.encodeClassifier(d, last, a.normed, 1), vocabSize * 4));
    const bytes = await d.readStaged(staged);
    const observations = observe
      ? Array.from({ length: layers }, (_, layer) => ({
          queries: new Float32Array(bytes[3 * layer]!),
          keys: new Float32Array(bytes[3 * layer + 1]!),
          values: new Float32Array(bytes[3 * layer + 2]!),
        }))
      : [];
    return { logits: new Float32Array(bytes[bytes.length - 1]!), observations };
  }

  /** Validates a decode batch, and reserves every layer's blocks for it (nothing changes on a refusal). Returns the dispatcher it encodes on. */
  private checkBatch(tokens: readonly number[], positions: readonly number[], caches: readonly DecodeCache[]): Dispatcher {
    const b = tokens.length;
    if (b === 0 || positions.length !== b || caches.length !== b) {
      throw new GpuError('INVALID_ARGUMENT', `decode: ${b} tokens, ${positions.length} positions and ${caches.length} caches must match (at least one).`);
    }
    if (new Set(caches).size !== b) throw new GpuError('INVALID_ARGUMENT', 'decode: a cache appears twice in one batch; each sequence decodes one token per step.');
    const { vocabSize, hiddenDim, dim, layers } = this.shape;
    if (b * Math.max(vocabSize, hiddenDim, dim) * 4 > largestStorageBuffer(this.gpu)) {
      throw new GpuError('INVALID_ARGUMENT', `decode: the logits of ${b} sequences exceed one storage binding; split the batch.`);
    }
    this.checkInput(tokens, positions, caches);
    const mixed = caches.find((cache) => cache instanceof GpuMixedCache);
    if (mixed) {
      if (b > 1) throw new GpuError('INVALID_ARGUMENT', 'decode: a cache whose heads differ in format decodes alone (a batch of one).');
      mixed.reserveAppend(layers, 1);
      return mixed.dispatcher;
    }
    const paged = caches as readonly GpuPagedCache[];
    const pool = paged[0]!.pool;
    if (paged.some((cache) => cache.pool !== pool)) {
      throw new GpuError('INVALID_ARGUMENT', 'decode: every sequence of a batch must belong to the same GpuKvPool (create them with GpuPagedCache.inPool(pool)).');
    }
    const ones = new Array<number>(b).fill(1);
    GpuPagedCache.reserveAppend(layers, paged, ones);
    return pool.dispatcher;
  }

  private checkInput(tokens: readonly number[], positions: readonly number[], caches: readonly DecodeCache[]): void {
    const { layers, queryHeads, kvHeads, headDim, vocabSize, contextLength } = this.shape;
    if (this.outOfMemory) throw new GpuError('DEVICE_OUT_OF_MEMORY', `The model's weights did not fit on the GPU: ${this.outOfMemory}`);
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= vocabSize) throw new GpuError('INVALID_ARGUMENT', `token ${token} is outside the vocabulary of ${vocabSize}.`);
    }
    for (const position of positions) {
      if (!Number.isInteger(position) || position < 0 || position >= contextLength) {
        throw new GpuError('INVALID_ARGUMENT', `position ${position} is outside the context of ${contextLength}${positions.length > 1 ? ` (positions ${positions[0]}..${positions[positions.length - 1]})` : ''}.`);
      }
    }
    for (const cache of caches) {
      const s = cache instanceof GpuMixedCache ? cache.shape : cache.pool.shape;
      if (s.queryHeads !== queryHeads || s.kvHeads !== kvHeads || s.headDim !== headDim || s.layers < layers) {
        throw new GpuError('INVALID_ARGUMENT', `The cache (${s.layers} layers, ${s.queryHeads} query heads over ${s.kvHeads} KV heads of ${s.headDim}) does not fit the model (${layers}, ${queryHeads} over ${kvHeads} of ${headDim}).`);
      }
      if (cache instanceof GpuMixedCache) cache.check();
      else cache.pool.check();
    }
  }

  /** Encodes one decode step of the batch (already checked); returns the buffer its logits `[batch][vocab]` will be in. */
  private encodeBatch(tokens: readonly number[], positions: readonly number[], caches: readonly DecodeCache[]): GPUBuffer {
    const { headDim } = this.shape;
    const d = caches[0]!.dispatcher;
    const b = tokens.length;
    const rowPositions = d.temp(b * 4, GPUBufferUsage.STORAGE, Uint32Array.from(positions));
    const step: Pass = {
      project: (w, input, out, inDim, outDim) => encodeMatvec(d, w, input, out, { inDim, outDim, rows: b }),
      rope: (vectors, heads) => d.run(this.neox ? 'ropeRowsNeox' : 'ropeRows', { heads, headDim, position: 0, tokens: b }, [vectors, this.ropeCos, this.ropeSin, rowPositions], { threads: (b * heads * headDim) / 2 }),
      appendAndAttend: (layer, a) => {
        const [first] = caches;
        if (first instanceof GpuMixedCache) {
          first.encodeAppend(layer, a.k, a.v, Int32Array.from(positions));
          first.encodeAttend(layer, a.q, a.attention);
          return;
        }
        GpuPagedCache.encodeAppendRows(layer, caches as readonly GpuPagedCache[], a.k, a.v, positions);
        GpuPagedCache.encodeAttendBatch(layer, caches as readonly GpuPagedCache[], a.q, a.attention);
      },
    };
    const a = this.encodeLayers(d, tokens, step);
    return this.encodeClassifier(d, a.x, a.normed, b);
  }

  /** Embeds `tokens` and encodes every layer over them; returns the activations (the residual stream in `x`). */
  private encodeLayers(d: Dispatcher, tokens: readonly number[], pass: Pass): Activations {
    const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim } = this.shape;
    const n = tokens.length;
    const scratch = (floats: number) => d.temp(n * floats * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const a: Activations = {
      rows: n,
      x: scratch(dim),
      normed: scratch(dim),
      q: scratch(queryHeads * headDim),
      k: scratch(kvHeads * headDim),
      v: scratch(kvHeads * headDim),
      attention: scratch(queryHeads * headDim),
      projected: scratch(dim),
      gate: scratch(hiddenDim),
      up: scratch(hiddenDim),
    };
    tokens.forEach((token, t) => d.copy(this.embedding, token * dim * 4, a.x, t * dim * 4, dim * 4));
    for (let layer = 0; layer < layers; layer++) this.encodeLayer(d, layer, a, pass);
    return a;
  }

  /**
   * The LLaMA layer, shared by prefill and decode, as core's CPU recipe runs it
   * (packages/core/src/model/forward.ts): norm -> q/k/v projections (+ biases) -> RoPE -> K/V append and attention
   * -> output projection + residual -> norm -> gate/up projections -> SwiGLU -> down projection + residual.
   */
  private encodeLayer(d: Dispatcher, layer: number, a: Activations, pass: Pass): void {
    const { dim, hiddenDim, queryHeads, kvHeads, headDim, normEps } = this.shape;
    const w = this.layerWeights[layer]!;
    const n = a.rows;
    const rmsnorm = (weight: GPUBuffer) => d.run('rmsnorm', { dim, weightOffset: 0, eps: normEps, rows: n }, [a.x, weight, a.normed], { groups: n });
    const elementwise = (op: 0 | 1, target: GPUBuffer, other: GPUBuffer, length: number) => d.run('elementwise', { length: n * length, op }, [target, other], { threads: n * length });
    const addBias = (target: GPUBuffer, bias: GPUBuffer | undefined, width: number) => {
      if (bias) d.run('addBias', { length: n * width, width }, [target, bias], { threads: n * width });
    };
    rmsnorm(w.attentionNorm);
    pass.project(w.wq, a.normed, a.q, dim, queryHeads * headDim);
    pass.project(w.wk, a.normed, a.k, dim, kvHeads * headDim);
    pass.project(w.wv, a.normed, a.v, dim, kvHeads * headDim);
    addBias(a.q, w.bq, queryHeads * headDim);
    addBias(a.k, w.bk, kvHeads * headDim);
    addBias(a.v, w.bv, kvHeads * headDim);
    pass.rope(a.q, queryHeads);
    pass.rope(a.k, kvHeads);
    pass.appendAndAttend(layer, a);
    pass.project(w.wo, a.attention, a.projected, queryHeads * headDim, dim);
    elementwise(0, a.x, a.projected, dim); // residual
    rmsnorm(w.ffnNorm);
    pass.project(w.w1, a.normed, a.gate, dim, hiddenDim);
    pass.project(w.w3, a.normed, a.up, dim, hiddenDim);
    elementwise(1, a.gate, a.up, hiddenDim); // SwiGLU
    pass.project(w.w2, a.gate, a.projected, hiddenDim, dim);
    elementwise(0, a.x, a.projected, dim); // residual
  }

  /** The final norm of `rows` rows of `x` (into `normed`) and the classifier; returns the logits `[rows][vocab]`. */
  private encodeClassifier(d: Dispatcher, x: GPUBuffer, normed: GPUBuffer, rows: number): GPUBuffer {
    const { dim, vocabSize, normEps } = this.shape;
    const logits = d.temp(rows * vocabSize * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    d.run('rmsnorm', { dim, weightOffset: 0, eps: normEps, rows }, [x, this.finalNorm, normed], { groups: rows });
    encodeMatvec(d, this.classifier, normed, logits, { inDim: dim, outDim: vocabSize, rows });
    return logits;
  }

  /** Frees the uploaded weights. */
  destroy(): void {
    for (const buffer of this.buffers.splice(0)) buffer.destroy();
  }
}
