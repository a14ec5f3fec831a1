import type { BlockPool } from './block-pool.js';
import type { Allocator } from './allocator.js';
import { AllocatorError, check, statusCode } from './errors.js';
import { quantizeTensor } from './quantize.js';
import { TENSOR_TYPE_IDS, type TensorType, isTensorType, tensorByteLength } from './tensor-formats.js';

/**
 * Which dimensions of a head RoPE rotates together: `adjacent` pairs `(2j, 2j + 1)` (llama2.c, GGUF
 * `llama`) or `neox` pairs `(j, j + headDim / 2)` (rotate-half: GGUF `qwen2`, Hugging Face checkpoints).
 * Either way pair `j` at position `p` turns by the angle of `ropeCos`/`ropeSin` row `p`, column `j`.
 */
export type EngineRopeStyle = 'adjacent' | 'neox';

/** Hyperparameters of a LLaMA-family decoder (the same fields as @adakv/core's ModelConfig). */
export interface EngineModelConfig {
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
  /** Tokens in the vocabulary. */
  readonly vocabSize: number;
  /** Most positions the model covers. */
  readonly contextLength: number;
  /** The epsilon of RMS normalization. */
  readonly normEps: number;
  /** Which dimensions RoPE rotates together (default `adjacent`; `neox` for Qwen 2). */
  readonly ropeStyle?: EngineRopeStyle;
}

/** A tensor in a given format: its raw bytes, laid out as llama.cpp/GGUF lays that type out. */
export interface TypedTensor {
  /** The tensor's storage type. */
  readonly type: TensorType;
  /** Its raw bytes. */
  readonly bytes: Uint8Array;
}

/** f32 values (a Float32Array, row-major) or raw bytes of any supported type. */
export type EngineTensor = Float32Array | TypedTensor;

/** One decoder block; matrices row-major `[out][in]`. */
export interface EngineLayerWeights {
  /** RMS-norm weight before attention `[dim]`. */
  readonly attentionNorm: EngineTensor;
  /** Query projection `[queryHeads * headDim][dim]`. */
  readonly wq: EngineTensor;
  /** Key projection `[kvHeads * headDim][dim]`. */
  readonly wk: EngineTensor;
  /** Value projection `[kvHeads * headDim][dim]`. */
  readonly wv: EngineTensor;
  /** Attention output projection `[dim][queryHeads * headDim]`. */
  readonly wo: EngineTensor;
  /** RMS-norm weight before the feed-forward network `[dim]`. */
  readonly ffnNorm: EngineTensor;
  /** Feed-forward gate projection `[hiddenDim][dim]`. */
  readonly w1: EngineTensor;
  /** Feed-forward down projection `[dim][hiddenDim]`. */
  readonly w2: EngineTensor;
  /** Feed-forward up projection `[hiddenDim][dim]`. */
  readonly w3: EngineTensor;
  /** Query bias `[queryHeads * headDim]` (Qwen 2), f32, added after the projection; absent in LLaMA. */
  readonly bq?: Float32Array;
  /** Key bias `[kvHeads * headDim]` (Qwen 2), f32. */
  readonly bk?: Float32Array;
  /** Value bias `[kvHeads * headDim]` (Qwen 2), f32. */
  readonly bv?: Float32Array;
}

/**
 * All weights of a decoder. Structurally a superset of @adakv/core's ModelWeights (all f32), so a core
 * model's `weights` can be passed as they are. The classifier is tied to the embedding (uploaded once)
 * when it is the very same object.
 */
export interface EngineModelWeights {
  /** Token embeddings `[vocab][dim]`. */
  readonly tokenEmbedding: EngineTensor;
  /** Every decoder block, first to last. */
  readonly layers: readonly EngineLayerWeights[];
  /** RMS-norm weight after the last block `[dim]`. */
  readonly finalNorm: EngineTensor;
  /** Output projection to the logits `[vocab][dim]`. */
  readonly classifier: EngineTensor;
  /** RoPE per (position, pair): `[contextLength][headDim / 2]` cosines and sines, f32. */
  readonly ropeCos: Float32Array;
  /** RoPE sines `[contextLength][headDim / 2]`, f32. */
  readonly ropeSin: Float32Array;
}

/** How {@link Engine.loadModel} uploads the weights. */
export interface ModelLoadOptions {
  /**
   * Quantize every f32 matrix (embedding and classifier included; norms stay f32) to this type while
   * uploading, with this package's reference quantizer (quantizeTensor). Tensors given as bytes keep
   * their type.
   */
  quantize?: Exclude<TensorType, 'f32'>;
  /**
   * Keep a q8_0 copy of an f32 classifier (about 27% of its bytes) so greedy decode
   * (`decodeBatch` with `logits: false, argmax: true`) reads it instead of the whole classifier: each
   * screened logit is within a computed bound of the f32 one, and only the rows that could be the
   * largest are recomputed in f32, so the tokens are exactly those of the full product. Default true;
   * nothing is kept for other classifier types.
   */
  classifierScreen?: boolean;
}

/** What a prefill saw in one layer: post-RoPE queries `[n][queryHeads][headDim]`, keys and values `[n][kvHeads][headDim]`. */
export interface EngineLayerObservation {
  /** Post-RoPE query rows `[n][queryHeads][headDim]`. */
  readonly queries: Float32Array;
  /** Post-RoPE key rows `[n][kvHeads][headDim]`. */
  readonly keys: Float32Array;
  /** Value rows `[n][kvHeads][headDim]`. */
  readonly values: Float32Array;
}

/** Where {@link WasmModel.prefill} starts and what it returns besides the logits. */
export interface EnginePrefillOptions {
  /**
   * Position of the first token (default 0: the sequence is empty). A later chunk of a long prompt:
   * the sequence must hold exactly positions `0 .. start-1` in every (layer, KV head), as the earlier
   * chunks left it (not compacted); each row then attends over them in place and over its chunk's
   * earlier rows.
   */
  readonly start?: number;
  /** Return each layer's post-RoPE queries, keys and values of the tokens (default false). */
  readonly observations?: boolean;
}

/** What {@link WasmModel.prefill} returns. */
export interface EnginePrefillResult {
  /** Next-token logits after the last prompt token, `[vocab]`. */
  readonly logits: Float32Array;
  /** Per layer, when `observations: true` was asked. */
  readonly observations?: EngineLayerObservation[];
}

/** One decode step of one sequence of a batch. */
export interface DecodeStep {
  /** The sequence's handle in the pool. */
  readonly sequence: number;
  /** The token to feed. */
  readonly token: number;
  /** Its position in the sequence. */
  readonly position: number;
}

/** What {@link WasmModel.decodeBatch} returns, as asked. */
export interface EngineDecodeResult {
  /** `[batch][vocab]` logits (absent with `logits: false`). */
  readonly logits?: Float32Array;
  /** Index of the largest logit of each row, the first on ties, -1 where a logit is not finite (with `argmax: true`). */
  readonly argmax?: Int32Array;
  /** Each layer's post-RoPE query rows `[layers][batch][queryHeads][headDim]` (with `queries: true`). */
  readonly queries?: Float32Array;
}

/** What a model needs of the engine it lives in (the Engine class; declared here so the two modules do not import each other). */
export interface ModelHost {
  readonly allocator: Allocator;
  /** Throws if the engine was disposed. */
  live(): void;
  forgetModel(model: WasmModel): void;
}

// Slots of src/cpp/engine/model.h.
const SLOT = {
  tokenEmbedding: 0,
  finalNorm: 1,
  classifier: 2,
  ropeCos: 3,
  ropeSin: 4,
  attentionNorm: 10,
  wq: 11,
  wk: 12,
  wv: 13,
  wo: 14,
  ffnNorm: 15,
  w1: 16,
  w2: 17,
  w3: 18,
  bq: 19,
  bk: 20,
  bv: 21,
} as const;
const LAYER_TENSORS = ['attentionNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const;
/** Optional per layer (Qwen 2's biases); f32. */
const BIASES = ['bq', 'bk', 'bv'] as const;
const VECTORS = new Set<string>(['attentionNorm', 'ffnNorm', 'finalNorm', 'ropeCos', 'ropeSin', ...BIASES]);
const ROPE_STYLES: Readonly<Record<EngineRopeStyle, number>> = { adjacent: 0, neox: 1 };

function shapeOf(config: EngineModelConfig, name: string): [number, number] {
  const qDim = config.queryHeads * config.headDim;
  const kvDim = config.kvHeads * config.headDim;
  switch (name) {
    case 'tokenEmbedding':
    case 'classifier':
      return [config.vocabSize, config.dim];
    case 'finalNorm':
    case 'attentionNorm':
    case 'ffnNorm':
      return [1, config.dim];
    case 'ropeCos':
    case 'ropeSin':
      return [config.contextLength, config.headDim / 2];
    case 'wq':
      return [qDim, config.dim];
    case 'wk':
    case 'wv':
      return [kvDim, config.dim];
    case 'bq':
      return [1, qDim];
    case 'bk':
    case 'bv':
      return [1, kvDim];
    case 'wo':
      return [config.dim, qDim];
    case 'w1':
    case 'w3':
      return [config.hiddenDim, config.dim];
    default:
      return [config.dim, config.hiddenDim]; // w2
  }
}

/**
 * A model uploaded into an {@link Engine}'s memory. Forward passes run over a {@link BlockPool} of the
 * same engine: `prefill` fills an empty sequence with a prompt's K/V, `decodeBatch` advances several
 * sequences by one token each (the matrix products read every weight row once for the whole batch).
 */
export class WasmModel {
  /** The model's hyperparameters. */
  readonly config: EngineModelConfig;
  /** Bytes the weights occupy in WASM memory (quantized tensors stay quantized; a tied classifier counts once). */
  readonly residentWeightBytes: number;
  /** Weights (parameters) the model holds; `residentWeightBytes / parameterCount` is bytes per parameter. */
  readonly parameterCount: number;
  /** Bytes of greedy decode's classifier screen ({@link ModelLoadOptions.classifierScreen}), 0 without one; not in `residentWeightBytes`. */
  readonly screenBytes: number;
  /** The storage type of each tensor as uploaded, by name (`layers.3.wq`, `tokenEmbedding`, ...). */
  readonly tensorTypes: Readonly<Record<string, TensorType>>;
  private handle: number;

  private constructor(private readonly engine: ModelHost, handle: number, config: EngineModelConfig, tensorTypes: Record<string, TensorType>) {
    this.engine = engine;
    this.handle = handle;
    this.config = config;
    this.tensorTypes = tensorTypes;
    const { allocator } = engine;
    const [stats] = allocator.scratch.regions(24) as [number];
    check(allocator.exports.adakv_model_stats(handle, stats), 'WasmModel.create');
    const [bytes, parameters, screenBytes] = allocator.f64(stats, 3);
    this.residentWeightBytes = bytes!;
    this.parameterCount = parameters!;
    this.screenBytes = screenBytes!;
  }

  /** Use {@link Engine.loadModel}. */
  static create(engine: ModelHost, config: EngineModelConfig, weights: EngineModelWeights, options: ModelLoadOptions = {}): WasmModel {
    validateConfig(config);
    if (weights.layers.length !== config.layers) {
      throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: the config says ${config.layers} layers, the weights have ${weights.layers.length}.`);
    }
    const tied = weights.classifier === weights.tokenEmbedding;
    const { allocator } = engine;
    const { exports } = allocator;
    const [configPointer] = allocator.scratch.regions(10 * 4) as [number];
    allocator.i32(configPointer, 10).set([
      config.dim, config.hiddenDim, config.layers, config.queryHeads, config.kvHeads, config.headDim, config.vocabSize, config.contextLength, tied ? 1 : 0,
      ROPE_STYLES[config.ropeStyle ?? 'adjacent'],
    ]);
    const handle = check(exports.adakv_model_create(configPointer, config.normEps), 'WasmModel.create');
    const types: Record<string, TensorType> = {};
    try {
      const upload = (name: string, slot: number, layer: number, tensor: EngineTensor, label: string) => {
        const [rows, cols] = shapeOf(config, name);
        const { type, bytes } = encode(tensor, rows, cols, VECTORS.has(name) ? undefined : options.quantize, label);
        const expected = tensorByteLength(type, rows, cols);
        if (bytes.byteLength !== expected) {
          throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: ${label} is [${rows}][${cols}] ${type}, which is ${expected} bytes; got ${bytes.byteLength}.`);
        }
        if (VECTORS.has(name) && type !== 'f32') {
          throw new AllocatorError('UNSUPPORTED_TYPE', `WasmModel: ${label} must be f32 (norm weights and RoPE tables are small; convert them), got ${type}.`);
        }
        const [address] = allocator.scratch.regions(4) as [number];
        check(exports.adakv_model_tensor(handle, slot, layer, TENSOR_TYPE_IDS[type], bytes.byteLength, address), `WasmModel: uploading ${label}`);
        const target = allocator.u32(address, 1)[0]!;
        allocator.u8(target, bytes.byteLength).set(bytes);
        types[label] = type;
      };
      upload('tokenEmbedding', SLOT.tokenEmbedding, 0, weights.tokenEmbedding, 'tokenEmbedding');
      if (!tied) upload('classifier', SLOT.classifier, 0, weights.classifier, 'classifier');
      else types.classifier = types.tokenEmbedding!;
      upload('finalNorm', SLOT.finalNorm, 0, weights.finalNorm, 'finalNorm');
      upload('ropeCos', SLOT.ropeCos, 0, weights.ropeCos, 'ropeCos');
      upload('ropeSin', SLOT.ropeSin, 0, weights.ropeSin, 'ropeSin');
      weights.layers.forEach((layer, l) => {
        for (const name of LAYER_TENSORS) upload(name, SLOT[name], l, layer[name], `layers.${l}.${name}`);
        for (const name of BIASES) {
          const bias = layer[name];
          if (bias !== undefined) upload(name, SLOT[name], l, bias, `layers.${l}.${name}`);
        }
      });
      check(exports.adakv_model_ready(handle), 'WasmModel.create');
      if (options.classifierScreen !== false) check(exports.adakv_model_screen(handle), 'WasmModel.create (classifier screen)');
      return new WasmModel(engine, handle, config, types);
    } catch (error) {
      exports.adakv_model_destroy(handle);
      throw error;
    }
  }

  /**
   * Runs `tokens` at positions `start .. start+n-1` into `sequence` of `pool` (shaped [layers][kvHeads];
   * empty for `start` 0, else holding exactly positions `0 .. start-1` in every head, as earlier chunks
   * of the prompt left it), appending every layer's post-RoPE K/V, and returns the logits after the last
   * token; with `observations: true` also each layer's post-RoPE queries, keys and values of the tokens.
   * Each row attends causally over the sequence's blocks in place, computed as a decode step at its
   * position would be, so a prompt prefilled whole, in chunks or one token at a time gives the same
   * bits; the work memory grows with the chunk, not with `start`. On any error nothing changes.
   */
  prefill(pool: BlockPool, sequence: number, tokens: ArrayLike<number>, options: EnginePrefillOptions = {}): EnginePrefillResult {
    this.checkPool(pool);
    const { vocabSize, contextLength, layers, queryHeads, kvHeads, headDim } = this.config;
    const n = tokens.length;
    const start = options.start ?? 0;
    if (!Number.isInteger(start) || start < 0) {
      throw new AllocatorError('INVALID_ARGUMENT', `prefill: start must be an integer >= 0, got ${start}.`);
    }
    if (n === 0 || start + n > contextLength) {
      throw new AllocatorError('OUT_OF_RANGE', `prefill: ${n} tokens at positions ${start} ..; a prompt holds 1 token and at most positions 0 .. ${contextLength - 1} (contextLength ${contextLength}).`);
    }
    for (let t = 0; t < n; t++) this.checkToken(tokens[t]!, `prefill: token ${t}`);
    const { allocator } = this.engine;
    const qFloats = layers * n * queryHeads * headDim;
    const kvFloats = layers * n * kvHeads * headDim;
    const observe = options.observations === true;
    const [tokenPointer, logits, q, k, v] = allocator.scratch.regions(n * 4, vocabSize * 4, observe ? qFloats * 4 : 0, observe ? kvFloats * 4 : 0, observe ? kvFloats * 4 : 0) as [number, number, number, number, number];
    allocator.i32(tokenPointer, n).set(tokens);
    const status = allocator.exports.adakv_prefill(this.live(), pool.nativeHandle, sequence, tokenPointer, n, start, logits, observe ? q : 0, observe ? k : 0, observe ? v : 0);
    if (status >= 0 || statusCode(status) !== 'INVALID_ARGUMENT') check(status, 'prefill');
    else {
      throw new AllocatorError(
        'INVALID_ARGUMENT',
        `prefill: the sequence must be shaped [${layers}][${kvHeads}] (layers, KV heads) and hold ` +
          (start === 0
            ? 'no rows: prefill starts a sequence (pass { start } to continue one in chunks).'
            : `exactly positions 0 .. ${start - 1} in every (layer, KV head), as the earlier chunks left it (not compacted or decoded past it).`),
      );
    }
    const result: { logits: Float32Array; observations?: EngineLayerObservation[] } = { logits: allocator.f32(logits, vocabSize).slice() };
    if (observe) {
      const qLayer = n * queryHeads * headDim;
      const kvLayer = n * kvHeads * headDim;
      result.observations = Array.from({ length: layers }, (_, l) => ({
        queries: allocator.f32(q + l * qLayer * 4, qLayer).slice(),
        keys: allocator.f32(k + l * kvLayer * 4, kvLayer).slice(),
        values: allocator.f32(v + l * kvLayer * 4, kvLayer).slice(),
      }));
    }
    return result;
  }

  /**
   * One decode step for several distinct sequences of `pool`: step i appends token i's K/V at its
   * position to its sequence and attends over that sequence's cache in place. Returns the logits
   * `[batch][vocab]` (unless `logits: false`), with `argmax: true` each row's largest index (-1 where a
   * logit is not finite), and with `queries: true` every layer's post-RoPE queries (what decode-time
   * eviction scores with). `logits: false, argmax: true` is greedy decode: with the classifier screen it
   * gives the same tokens without computing every logit.
   * On any error (bad token or position, exhausted pool, ...) no sequence changes.
   */
  decodeBatch(pool: BlockPool, steps: readonly DecodeStep[], options: { logits?: boolean; argmax?: boolean; queries?: boolean } = {}): EngineDecodeResult {
    this.checkPool(pool);
    const batch = steps.length;
    if (batch === 0) throw new AllocatorError('INVALID_ARGUMENT', 'decodeBatch: no steps given.');
    const { vocabSize, contextLength } = this.config;
    const seen = new Set<number>();
    steps.forEach((step, i) => {
      this.checkToken(step.token, `decodeBatch: step ${i}`);
      if (!Number.isInteger(step.position) || step.position < 0 || step.position >= contextLength) {
        throw new AllocatorError('OUT_OF_RANGE', `decodeBatch: step ${i} is at position ${step.position}, past the model's context (positions 0 .. ${contextLength - 1}).`);
      }
      if (seen.has(step.sequence)) {
        throw new AllocatorError('INVALID_ARGUMENT', `decodeBatch: sequence ${step.sequence} appears twice; one token per sequence per step.`);
      }
      seen.add(step.sequence);
    });
    const { allocator } = this.engine;
    const wantArgmax = options.argmax === true;
    const wantLogits = options.logits !== false || !wantArgmax;
    const queryFloats = options.queries === true ? this.config.layers * batch * this.config.queryHeads * this.config.headDim : 0;
    const [sequences, tokens, positions, logits, argmax, queries] = allocator.scratch.regions(batch * 4, batch * 4, batch * 4, wantLogits ? batch * vocabSize * 4 : 0, batch * 4, queryFloats * 4) as [number, number, number, number, number, number];
    allocator.i32(sequences, batch).set(steps.map((s) => s.sequence));
    allocator.i32(tokens, batch).set(steps.map((s) => s.token));
    allocator.i32(positions, batch).set(steps.map((s) => s.position));
    check(allocator.exports.adakv_decode(this.live(), pool.nativeHandle, batch, sequences, tokens, positions, wantLogits ? logits : 0, wantArgmax ? argmax : 0, queryFloats > 0 ? queries : 0), 'decodeBatch');
    return {
      ...(options.logits === false ? {} : { logits: allocator.f32(logits, batch * vocabSize).slice() }),
      ...(wantArgmax ? { argmax: allocator.i32(argmax, batch).slice() } : {}),
      ...(queryFloats > 0 ? { queries: allocator.f32(queries, queryFloats).slice() } : {}),
    };
  }

  /** One decode step of one sequence: its next-token logits `[vocab]`. */
  decode(pool: BlockPool, sequence: number, token: number, position: number): Float32Array {
    return this.decodeBatch(pool, [{ sequence, token, position }]).logits!;
  }

  /** Index of the largest value (the first on ties), computed in WASM. */
  argmax(logits: Float32Array): number {
    const { allocator } = this.engine;
    const [pointer] = allocator.scratch.regions(logits.length * 4) as [number];
    allocator.f32(pointer, logits.length).set(logits);
    return check(allocator.exports.adakv_argmax(pointer, logits.length), 'argmax');
  }

  /** Frees the weights; the model must not be used afterwards. */
  dispose(): void {
    if (this.handle < 0) return;
    check(this.engine.allocator.exports.adakv_model_destroy(this.handle), 'WasmModel.dispose');
    this.handle = -1;
    this.engine.forgetModel(this);
  }

  /** Whether {@link WasmModel.dispose} ran. */
  get disposed(): boolean {
    return this.handle < 0;
  }

  private live(): number {
    if (this.handle < 0) throw new AllocatorError('INVALID_HANDLE', 'This WasmModel was disposed: load it again.');
    this.engine.live();
    return this.handle;
  }

  private checkPool(pool: BlockPool): void {
    if (pool.allocator !== this.engine.allocator) {
      throw new AllocatorError('INVALID_ARGUMENT', "This pool lives in another WebAssembly instance: create it with the model's engine (engine.createPool).");
    }
    if (pool.headDim !== this.config.headDim) {
      throw new AllocatorError('INVALID_ARGUMENT', `The pool holds rows of ${pool.headDim} floats; this model's heads have ${this.config.headDim}.`);
    }
  }

  private checkToken(token: number, where: string): void {
    if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
      throw new AllocatorError('OUT_OF_RANGE', `${where}: token ${token} is outside the vocabulary (0 .. ${this.config.vocabSize - 1}).`);
    }
  }
}

function validateConfig(config: EngineModelConfig): void {
  const integers = ['dim', 'hiddenDim', 'layers', 'queryHeads', 'kvHeads', 'headDim', 'vocabSize', 'contextLength'] as const;
  for (const name of integers) {
    const value = config[name];
    if (!Number.isInteger(value) || value <= 0 || value > 2 ** 24) {
      throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: config.${name} must be a positive integer, got ${value}.`);
    }
  }
  if (config.ropeStyle !== undefined && !(config.ropeStyle in ROPE_STYLES)) {
    throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: config.ropeStyle must be 'adjacent' or 'neox', got ${String(config.ropeStyle)}.`);
  }
  if (config.headDim % 2 !== 0 || config.queryHeads % config.kvHeads !== 0) {
    throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: headDim must be even and queryHeads a multiple of kvHeads, got ${config.headDim}, ${config.queryHeads}, ${config.kvHeads}.`);
  }
  if (!(config.normEps > 0) || !Number.isFinite(config.normEps)) {
    throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: config.normEps must be positive, got ${config.normEps}.`);
  }
}

/** The bytes and type to upload for one tensor. */
function encode(tensor: EngineTensor, rows: number, cols: number, quantize: TensorType | undefined, label: string): { type: TensorType; bytes: Uint8Array } {
  if (tensor instanceof Float32Array) {
    if (tensor.length !== rows * cols) {
      throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: ${label} must hold [${rows}][${cols}] = ${rows * cols} floats, got ${tensor.length}.`);
    }
    if (quantize) return { type: quantize, bytes: quantizeTensor(quantize, tensor, rows, cols) };
    return { type: 'f32', bytes: new Uint8Array(tensor.buffer, tensor.byteOffset, tensor.byteLength) };
  }
  if (!tensor || !isTensorType(tensor.type)) {
    throw new AllocatorError('UNSUPPORTED_TYPE', `WasmModel: ${label} has type ${String(tensor?.type)}; supported: f32, f16, bf16, q8_0, q4_0, q4_K, q6_K.`);
  }
  if (!(tensor.bytes instanceof Uint8Array)) {
    throw new AllocatorError('INVALID_ARGUMENT', `WasmModel: ${label}.bytes must be a Uint8Array.`);
  }
  return { type: tensor.type, bytes: tensor.bytes };
}
