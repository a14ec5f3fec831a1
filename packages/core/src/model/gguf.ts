import { TENSOR_TYPE_IDS, bytesPerWeight } from '@adakv/allocator-wasm';
import { type GGUFParseOutput, type GGUFTensorInfo, gguf } from '@huggingface/gguf';
import { ModelFormatError, OptionError } from '../errors.js';
import { validateConfig } from './config.js';
import { dequantize, tensorByteLength, tensorFormat, tensorTypeName } from './dequantize.js';
import type { Model } from './model.js';
import { type RopeScaling, type RopeStyle, ropeTables } from './rope.js';
import { fetchFromMemory } from './fetch-from-memory.js';
import { readChatTemplate, readGgufTokenizer } from './tokenizers/gguf-tokenizer.js';
import type { ModelWeights, StoredLayerWeights, StoredTensor, StoredWeights } from './weights.js';

type Metadata = GGUFParseOutput<{ strict: false }>['metadata'];

function metadataNumber(metadata: Metadata, key: string, fallback?: number): number {
  const value = metadata[key];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' && typeof value !== 'bigint') {
    throw new ModelFormatError(`GGUF: metadata ${key} is ${value === undefined ? 'missing' : `not a number (${String(value)})`}.`);
  }
  return Number(value);
}

/** What the runner supports of each GGUF architecture. */
const ARCHITECTURES: Readonly<Record<string, { readonly ropeStyle: RopeStyle; readonly biases: boolean }>> = {
  // Llama 2/3/3.1/3.2, TinyLlama, SmolLM, Mistral: the converter permutes Q and K for adjacent-pair RoPE
  llama: { ropeStyle: 'adjacent', biases: false },
  // Qwen 2 / 2.5: Q, K and V biases, rotate-half (NeoX) RoPE
  qwen2: { ropeStyle: 'neox', biases: true },
};

/** Contexts longer than this get RoPE tables and limits for this many positions unless asked otherwise. */
export const DEFAULT_MAX_CONTEXT = 16384;

/** How to load a GGUF file. */
export interface GgufLoadOptions {
  /**
   * Most positions to prepare for (RoPE tables, context checks): the file's context, capped at this
   * (default {@link DEFAULT_MAX_CONTEXT}: a 128k-context model's tables alone would take 64 MiB).
   */
  readonly maxContext?: number;
}

/**
 * Loads a GGUF file of a LLaMA-family architecture (`llama`: Llama 2/3/3.1/3.2, TinyLlama, SmolLM,
 * Mistral; `qwen2`: Qwen 2 and 2.5), tensors f32, f16, bf16, q8_0, q4_0, q4_K or q6_K. Weights stay
 * as stored (`storedWeights`, what the WASM engine reads in place) and are dequantized to f32 only when
 * a backend asks for `weights`. The header is parsed by `@huggingface/gguf`; tensor data is read by
 * offset. The tokenizer (SentencePiece or byte-level BPE) and the chat template come from the file's
 * `tokenizer.*` metadata.
 */
export async function loadGgufModel(data: ArrayBuffer | Uint8Array, options: GgufLoadOptions = {}): Promise<Model> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let parsed: GGUFParseOutput<{ strict: false }>;
  try {
    parsed = (await gguf('https://gguf.invalid/model.gguf', { fetch: fetchFromMemory(bytes) })) as GGUFParseOutput<{
      strict: false;
    }>;
  } catch (error) {
    const reason = error instanceof RangeError ? 'it ends inside its header (truncated)' : String((error as Error).message ?? error);
    throw new ModelFormatError(`GGUF: cannot read the file: ${reason}.`, { cause: error });
  }
  const { metadata, tensorInfos } = parsed;
  const architecture = String(metadata['general.architecture']);
  const kind = ARCHITECTURES[architecture];
  if (!kind) {
    throw new ModelFormatError(
      `GGUF: the architecture is ${JSON.stringify(metadata['general.architecture'])}; this runner supports ${Object.keys(ARCHITECTURES).map((a) => `"${a}"`).join(' and ')} (LLaMA-family decoders).`,
    );
  }
  const key = (name: string) => `${architecture}.${name}`;
  const tensors = new Map(tensorInfos.map((info) => [info.name, info]));
  const embedding = tensors.get('token_embd.weight');
  if (!embedding || embedding.shape.length !== 2) throw new ModelFormatError('GGUF: there is no 2-D tensor token_embd.weight.');
  const dim = metadataNumber(metadata, key('embedding_length'));
  const queryHeads = metadataNumber(metadata, key('attention.head_count'));
  const headDim = metadataNumber(metadata, key('attention.key_length'), dim / queryHeads);
  const ropeDims = metadataNumber(metadata, key('rope.dimension_count'), headDim);
  if (ropeDims !== headDim) {
    throw new ModelFormatError(`GGUF: RoPE covers ${ropeDims} of ${headDim} head dimensions; partial rotary is not supported.`);
  }
  const notes: string[] = [];
  const fileContext = metadataNumber(metadata, key('context_length'));
  const contextLength = limitContext(metadata, key, fileContext, options.maxContext ?? DEFAULT_MAX_CONTEXT, notes);
  const config = validateConfig(
    {
      dim,
      hiddenDim: metadataNumber(metadata, key('feed_forward_length')),
      layers: metadataNumber(metadata, key('block_count')),
      queryHeads,
      kvHeads: metadataNumber(metadata, key('attention.head_count_kv'), queryHeads),
      headDim,
      vocabSize: Number(embedding.shape[1]),
      contextLength,
      ropeTheta: metadataNumber(metadata, key('rope.freq_base'), 10000),
      normEps: metadataNumber(metadata, key('attention.layer_norm_rms_epsilon'), Math.fround(1e-5)),
      ropeStyle: kind.ropeStyle,
    },
    `GGUF ${architecture} metadata`,
  );

  const dataStart = Number(parsed.tensorDataOffset);
  const tensorTypes: Record<string, string> = {};
  const raw = (name: string, shape: readonly number[]): { type: number; bytes: Uint8Array; count: number } => {
    const info = tensors.get(name);
    if (!info) throw new ModelFormatError(`GGUF: tensor ${name} is missing.`);
    checkShape(info, shape);
    const count = shape.reduce((a, b) => a * b, 1);
    const start = dataStart + Number(info.offset);
    const end = start + tensorByteLength(info.dtype, count, name);
    if (end > bytes.byteLength) {
      throw new ModelFormatError(
        `GGUF: tensor ${name} ends at byte ${end} but the file has ${bytes.byteLength}: the file is truncated. Re-download it.`,
      );
    }
    tensorTypes[name] = tensorTypeName(info.dtype);
    return { type: info.dtype, bytes: bytes.subarray(start, end), count };
  };
  /** A matrix as stored: f32 values, or its blocks copied out of the file (the file's buffer can go). */
  const stored = (name: string, shape: readonly number[]): StoredTensor => {
    const { type, bytes: tensor, count } = raw(name, shape);
    const format = tensorFormat(type)!;
    return format === 'f32' ? dequantize(type, tensor, count, name) : { type: format, bytes: tensor.slice() };
  };
  /** Norms, biases and factors: always f32. */
  const vector = (name: string, shape: readonly number[]): Float32Array => {
    const { type, bytes: tensor, count } = raw(name, shape);
    return dequantize(type, tensor, count, name);
  };

  const { hiddenDim, kvHeads, vocabSize } = config;
  const qDim = queryHeads * headDim;
  const kvDim = kvHeads * headDim;
  const bias = (l: number, name: string, size: number) => (kind.biases ? { [`b${name}`]: vector(`blk.${l}.attn_${name}.bias`, [size]) } : {});
  const tokenEmbedding = stored('token_embd.weight', [dim, vocabSize]);
  const layers: StoredLayerWeights[] = Array.from({ length: config.layers }, (_, l) => ({
    attentionNorm: vector(`blk.${l}.attn_norm.weight`, [dim]),
    wq: stored(`blk.${l}.attn_q.weight`, [dim, qDim]),
    wk: stored(`blk.${l}.attn_k.weight`, [dim, kvDim]),
    wv: stored(`blk.${l}.attn_v.weight`, [dim, kvDim]),
    wo: stored(`blk.${l}.attn_output.weight`, [qDim, dim]),
    ffnNorm: vector(`blk.${l}.ffn_norm.weight`, [dim]),
    w1: stored(`blk.${l}.ffn_gate.weight`, [dim, hiddenDim]),
    w2: stored(`blk.${l}.ffn_down.weight`, [hiddenDim, dim]),
    w3: stored(`blk.${l}.ffn_up.weight`, [dim, hiddenDim]),
    ...bias(l, 'q', qDim),
    ...bias(l, 'k', kvDim),
    ...bias(l, 'v', kvDim),
  }));
  const finalNorm = vector('output_norm.weight', [dim]);
  const classifier = tensors.has('output.weight') ? stored('output.weight', [dim, vocabSize]) : tokenEmbedding;
  const rope = ropeTables(headDim, config.contextLength, config.ropeTheta, ropeScaling(metadata, key, tensors.has('rope_freqs.weight') ? vector('rope_freqs.weight', [headDim / 2]) : undefined));
  const storedWeights: StoredWeights = { tokenEmbedding, layers, finalNorm, classifier, ropeCos: rope.cos, ropeSin: rope.sin };
  const allF32 = [tokenEmbedding, classifier, ...layers.flatMap((layer) => [layer.wq, layer.wk, layer.wv, layer.wo, layer.w1, layer.w2, layer.w3])].every((t) => t instanceof Float32Array);
  let weights: ModelWeights | undefined = allF32 ? (storedWeights as ModelWeights) : undefined;
  return {
    config,
    get weights(): ModelWeights {
      return (weights ??= dequantizeWeights(storedWeights));
    },
    ...(allF32 ? {} : { storedWeights }),
    tokenizer: readGgufTokenizer(metadata, config.vocabSize),
    chatTemplate: readChatTemplate(metadata),
    source: { format: 'gguf', tensorTypes, architecture, notes },
  };
}

/** The context the model is prepared for: the file's, capped by a sliding window it cannot honour otherwise and by `maxContext`. */
function limitContext(metadata: Metadata, key: (name: string) => string, fileContext: number, maxContext: number, notes: string[]): number {
  if (!Number.isInteger(maxContext) || maxContext < 1) throw new OptionError(`maxContext must be a whole number >= 1, got ${maxContext}.`);
  let context = fileContext;
  const window = metadata[key('attention.sliding_window')];
  if ((typeof window === 'number' || typeof window === 'bigint') && Number(window) > 0 && Number(window) < context) {
    // a sequence no longer than the window never meets the sliding mask: honoured by capping the context
    context = Number(window);
    notes.push(`The model attends over a sliding window of ${context} tokens; sequences are limited to that many.`);
  }
  if (context > maxContext) {
    notes.push(`The model's context of ${context} tokens is limited to ${maxContext} here (maxContext raises it).`);
    context = maxContext;
  }
  return context;
}

/** RoPE frequency scaling from the metadata (and the `rope_freqs.weight` factors, when the file has them). */
function ropeScaling(metadata: Metadata, key: (name: string) => string, freqFactors: Float32Array | undefined): RopeScaling {
  const type = metadata[key('rope.scaling.type')];
  if (type === undefined || type === 'none' || (type === 'linear' && metadataNumber(metadata, key('rope.scaling.factor'), 1) === 1)) {
    return freqFactors ? { freqFactors } : {};
  }
  if (type === 'linear') return { linearFactor: metadataNumber(metadata, key('rope.scaling.factor')), ...(freqFactors ? { freqFactors } : {}) };
  throw new ModelFormatError(`GGUF: RoPE scaling "${String(type)}" is not supported (none, linear, and Llama 3.1's rope_freqs factors are).`);
}

/** Every stored tensor as f32 (a tied classifier stays the very same array as the embedding). */
function dequantizeWeights(stored: StoredWeights): ModelWeights {
  const f32 = (tensor: StoredTensor): Float32Array =>
    tensor instanceof Float32Array ? tensor : dequantize(TENSOR_TYPE_IDS[tensor.type], tensor.bytes, (tensor.bytes.byteLength / bytesPerWeight(tensor.type)) | 0);
  const tokenEmbedding = f32(stored.tokenEmbedding);
  return {
    tokenEmbedding,
    layers: stored.layers.map((layer) => ({ ...layer, wq: f32(layer.wq), wk: f32(layer.wk), wv: f32(layer.wv), wo: f32(layer.wo), w1: f32(layer.w1), w2: f32(layer.w2), w3: f32(layer.w3) })),
    finalNorm: stored.finalNorm,
    classifier: stored.classifier === stored.tokenEmbedding ? tokenEmbedding : f32(stored.classifier),
    ropeCos: stored.ropeCos,
    ropeSin: stored.ropeSin,
  };
}

/** GGML shapes list the innermost dimension first: a `[out][in]` matrix is `[in, out]`. */
function checkShape(info: GGUFTensorInfo, expected: readonly number[]): void {
  const actual = info.shape.map(Number);
  if (actual.length !== expected.length || actual.some((size, i) => size !== expected[i])) {
    throw new ModelFormatError(
      `GGUF: tensor ${info.name} has shape [${actual.join(', ')}], but the metadata implies [${expected.join(', ')}].`,
    );
  }
}
