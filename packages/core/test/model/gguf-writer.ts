import { GGUFValueType, type GGUFTypedMetadata, serializeGgufMetadata } from '@huggingface/gguf';
export { GGUFValueType };
import { type TensorType, quantizeTensor } from '@adakv/allocator-wasm';
import { type Model, type SentencePieceTokenizer, loadLlama2cModel } from '../../src/index.js';
import { randomCheckpoint } from './random-model.js';

/** Test-only GGUF writer: metadata through @huggingface/gguf's serializer, tensor infos and data by hand. */

const ALIGNMENT = 32;
export type WriteType = TensorType;
const GGML_TYPE: Record<WriteType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_K: 12, q6_K: 14, bf16: 30 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Nearest binary16 (ties to even), as bits. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  const full = e <= 0 ? mantissa | 0x800000 : mantissa;
  const shift = e <= 0 ? 14 - e : 13;
  if (shift > 24) return sign;
  let half = e <= 0 ? full >>> shift : (e << 10) | (full >>> shift);
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && half & 1)) half++; // a carry into the exponent is still right
  return sign | half;
}

/** The bytes a tensor of `type` holds in the file (what `writeGguf` writes). */
export function encodeTensor(values: Float32Array, type: WriteType): Uint8Array {
  if (type === 'f32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  // bf16 and the 4/6-bit formats through the engine package's reference quantizers (llama.cpp's layouts)
  if (type === 'bf16' || type === 'q4_0' || type === 'q4_K' || type === 'q6_K') return quantizeTensor(type, values, 1, values.length);
  if (type === 'f16') {
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]!);
    return new Uint8Array(out.buffer);
  }
  // q8_0 as ggml's quantize_row_q8_0_ref: scale = max|x| / 127, q = round-half-away(x / scale)
  const blocks = values.length / 32;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[b * 32 + i]!));
    const d = Math.fround(amax / 127);
    const inverse = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, floatToHalf(d), true);
    for (let i = 0; i < 32; i++) {
      const scaled = Math.fround(values[b * 32 + i]! * inverse);
      view.setInt8(b * 34 + 2 + i, Math.sign(scaled) * Math.round(Math.abs(scaled)));
    }
  }
  return out;
}

export interface TensorSpec {
  name: string;
  /** GGML order: innermost first. */
  shape: number[];
  values: Float32Array;
  type: WriteType;
}

export function writeGguf(metadata: GGUFTypedMetadata, tensors: TensorSpec[]): Uint8Array {
  const header = serializeGgufMetadata(metadata, { alignment: 1 });
  const encoder = new TextEncoder();
  const infos: number[] = [];
  const u64 = (value: number) => {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
    infos.push(...bytes);
  };
  const u32le = (value: number) => {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    infos.push(...bytes);
  };
  const data = tensors.map((tensor) => encodeTensor(tensor.values, tensor.type));
  let offset = 0;
  tensors.forEach((tensor, i) => {
    const name = encoder.encode(tensor.name);
    u64(name.length);
    infos.push(...name);
    u32le(tensor.shape.length);
    for (const size of tensor.shape) u64(size);
    u32le(GGML_TYPE[tensor.type]);
    u64(offset);
    offset += Math.ceil(data[i]!.byteLength / ALIGNMENT) * ALIGNMENT;
  });
  const dataStart = Math.ceil((header.byteLength + infos.length) / ALIGNMENT) * ALIGNMENT;
  const file = new Uint8Array(dataStart + offset);
  file.set(header);
  file.set(infos, header.byteLength);
  let at = dataStart;
  for (const bytes of data) {
    file.set(bytes, at);
    at += Math.ceil(bytes.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  return file;
}

const uint32 = (value: number) => ({ value, type: GGUFValueType.UINT32 });
const bool = (value: boolean) => ({ value, type: GGUFValueType.BOOL });
const strings = (value: readonly string[]) => ({ value: [...value], type: GGUFValueType.ARRAY, subType: GGUFValueType.STRING });
const int32s = (value: readonly number[]) => ({ value: [...value], type: GGUFValueType.ARRAY, subType: GGUFValueType.INT32 });

/** The metadata llama.cpp writes for a LLaMA model, from a loaded model (its SentencePiece vocabulary included when it has one). */
export function llamaMetadata(model: Model, tensorCount: number, architecture = 'llama'): GGUFTypedMetadata {
  const { config } = model;
  return {
    version: { value: 3, type: GGUFValueType.UINT32 },
    tensor_count: { value: BigInt(tensorCount), type: GGUFValueType.UINT64 },
    kv_count: { value: 0n, type: GGUFValueType.UINT64 },
    'general.architecture': { value: architecture, type: GGUFValueType.STRING },
    'general.alignment': uint32(ALIGNMENT),
    [`${architecture}.context_length`]: uint32(config.contextLength),
    [`${architecture}.embedding_length`]: uint32(config.dim),
    [`${architecture}.block_count`]: uint32(config.layers),
    [`${architecture}.feed_forward_length`]: uint32(config.hiddenDim),
    [`${architecture}.rope.dimension_count`]: uint32(config.headDim),
    [`${architecture}.attention.head_count`]: uint32(config.queryHeads),
    [`${architecture}.attention.head_count_kv`]: uint32(config.kvHeads),
    [`${architecture}.attention.layer_norm_rms_epsilon`]: { value: config.normEps, type: GGUFValueType.FLOAT32 },
    [`${architecture}.rope.freq_base`]: { value: config.ropeTheta, type: GGUFValueType.FLOAT32 },
    ...(model.tokenizer ? sentencePieceMetadata(model.tokenizer) : {}),
  } as GGUFTypedMetadata;
}

/** A SentencePiece vocabulary as convert_hf_to_gguf writes it: U+2581 for spaces, `<0xXX>` byte tokens, scores. */
export function sentencePieceMetadata(tokenizer: Model['tokenizer']): Partial<GGUFTypedMetadata> {
  // by kind, not instanceof: callers may hand over a model loaded through core's built dist
  if (tokenizer?.kind !== 'sentencepiece') throw new Error('sentencePieceMetadata writes SentencePiece vocabularies');
  const sentencePiece = tokenizer as SentencePieceTokenizer;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return {
    'tokenizer.ggml.model': { value: 'llama', type: GGUFValueType.STRING },
    'tokenizer.ggml.tokens': strings(
      sentencePiece.pieces.map((piece, id) => {
        const byte = sentencePiece.byteOf(id);
        if (byte !== undefined) return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
        return decoder.decode(piece).replaceAll(' ', '\u2581');
      }),
    ),
    'tokenizer.ggml.scores': { value: Array.from(sentencePiece.scores), type: GGUFValueType.ARRAY, subType: GGUFValueType.FLOAT32 },
    'tokenizer.ggml.bos_token_id': uint32(sentencePiece.bosToken),
    'tokenizer.ggml.eos_token_id': uint32(sentencePiece.eosToken),
  } as Partial<GGUFTypedMetadata>;
}

/** What a byte-level BPE (`gpt2`) vocabulary puts in a GGUF file; optional entries are left out when absent. */
export interface Gpt2TokenizerSpec {
  /** Normal tokens in GPT-2's byte characters, added (special) tokens as written. */
  tokens: readonly string[];
  /** "left right", by rank. */
  merges: readonly string[];
  /** llama.cpp's token types (1 normal, 3 control, 4 user-defined, 5 unused, ...). */
  tokenTypes: readonly number[];
  pre: string;
  bos?: number;
  eos: number;
  eot?: number;
  eom?: number;
  pad?: number;
  addBos?: boolean;
  addEos?: boolean;
  chatTemplate?: string;
}

/** The `tokenizer.*` metadata of a byte-level BPE vocabulary, as llama.cpp's convert_hf_to_gguf writes it. */
export function gpt2TokenizerMetadata(spec: Gpt2TokenizerSpec): Partial<GGUFTypedMetadata> {
  const entries: Record<string, unknown> = {
    'tokenizer.ggml.model': { value: 'gpt2', type: GGUFValueType.STRING },
    'tokenizer.ggml.pre': { value: spec.pre, type: GGUFValueType.STRING },
    'tokenizer.ggml.tokens': strings(spec.tokens),
    'tokenizer.ggml.token_type': int32s(spec.tokenTypes),
    'tokenizer.ggml.merges': strings(spec.merges),
    'tokenizer.ggml.eos_token_id': uint32(spec.eos),
  };
  const optional: Array<[string, unknown]> = [
    ['tokenizer.ggml.bos_token_id', spec.bos === undefined ? undefined : uint32(spec.bos)],
    ['tokenizer.ggml.eot_token_id', spec.eot === undefined ? undefined : uint32(spec.eot)],
    ['tokenizer.ggml.eom_token_id', spec.eom === undefined ? undefined : uint32(spec.eom)],
    ['tokenizer.ggml.padding_token_id', spec.pad === undefined ? undefined : uint32(spec.pad)],
    ['tokenizer.ggml.add_bos_token', spec.addBos === undefined ? undefined : bool(spec.addBos)],
    ['tokenizer.ggml.add_eos_token', spec.addEos === undefined ? undefined : bool(spec.addEos)],
    ['tokenizer.chat_template', spec.chatTemplate === undefined ? undefined : { value: spec.chatTemplate, type: GGUFValueType.STRING }],
  ];
  for (const [key, value] of optional) if (value !== undefined) entries[key] = value;
  return entries as Partial<GGUFTypedMetadata>;
}

/**
 * A GGUF file of a tiny random LLaMA model (dim 8, one layer, f32) with `vocabSize` embedding rows and
 * the given tokenizer metadata: what a tokenizer test needs, at about 32 bytes per vocabulary entry
 * of weights plus the vocabulary itself.
 */
export function tinyModelGguf(vocabSize: number, tokenizer: Partial<GGUFTypedMetadata>, seed = 7): Uint8Array {
  const shape = { dim: 8, hiddenDim: 16, layers: 1, heads: 2, kvHeads: 1, vocab: vocabSize, contextLength: 64 };
  const model = loadLlama2cModel(randomCheckpoint(shape, seed));
  return modelToGguf(model, 'f32', tokenizer);
}

/**
 * A GGUF file of `model`: matrices (and the embedding) as `matrixType`, norms always f32, classifier
 * tied; `metadata` overrides entries (to write inconsistent files).
 */
export function modelToGguf(model: Model, matrixType: WriteType, metadata: Partial<GGUFTypedMetadata> = {}): Uint8Array {
  const { config, weights } = model;
  const { dim, hiddenDim, queryHeads, kvHeads, headDim, vocabSize } = config;
  const qDim = queryHeads * headDim;
  const kvDim = kvHeads * headDim;
  const tensors: TensorSpec[] = [
    { name: 'token_embd.weight', shape: [dim, vocabSize], values: weights.tokenEmbedding, type: matrixType },
  ];
  weights.layers.forEach((layer, l) => {
    const add = (name: string, shape: number[], values: Float32Array, type = matrixType) =>
      tensors.push({ name: `blk.${l}.${name}.weight`, shape, values, type });
    add('attn_norm', [dim], layer.attentionNorm, 'f32');
    add('attn_q', [dim, qDim], layer.wq);
    add('attn_k', [dim, kvDim], layer.wk);
    add('attn_v', [dim, kvDim], layer.wv);
    add('attn_output', [qDim, dim], layer.wo);
    add('ffn_norm', [dim], layer.ffnNorm, 'f32');
    add('ffn_gate', [dim, hiddenDim], layer.w1);
    add('ffn_down', [hiddenDim, dim], layer.w2);
    add('ffn_up', [dim, hiddenDim], layer.w3);
  });
  tensors.push({ name: 'output_norm.weight', shape: [dim], values: weights.finalNorm, type: 'f32' });
  return writeGguf({ ...llamaMetadata(model, tensors.length), ...metadata } as GGUFTypedMetadata, tensors);
}
