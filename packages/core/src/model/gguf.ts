import { type GGUFParseOutput, type GGUFTensorInfo, gguf } from '@huggingface/gguf';
import { ModelFormatError } from '../errors.js';
import { validateConfig } from './config.js';
import { dequantize, tensorByteLength, tensorTypeName } from './dequantize.js';
import type { Model } from './model.js';
import { ropeTables } from './rope.js';
import { readChatTemplate, readGgufTokenizer } from './tokenizers/gguf-tokenizer.js';
import type { LayerWeights } from './weights.js';

type Metadata = GGUFParseOutput<{ strict: false }>['metadata'];

/** @huggingface/gguf reads through `fetch` with range requests; this one answers them from memory. */
function fetchFromMemory(bytes: Uint8Array): typeof fetch {
  return (async (_input: unknown, init?: { headers?: Record<string, string> }) => {
    const range = /bytes=(\d+)-(\d+)/.exec(init?.headers?.Range ?? '');
    const start = Math.min(Number(range?.[1] ?? 0), bytes.byteLength);
    const end = Math.min(Number(range?.[2] ?? bytes.byteLength - 1) + 1, bytes.byteLength);
    return new Response(bytes.slice(start, end), {
      status: 206,
      headers: { 'content-range': `bytes ${start}-${Math.max(start, end - 1)}/${bytes.byteLength}` },
    });
  }) as typeof fetch;
}

function metadataNumber(metadata: Metadata, key: string, fallback?: number): number {
  const value = metadata[key];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' && typeof value !== 'bigint') {
    throw new ModelFormatError(`GGUF: metadata ${key} is ${value === undefined ? 'missing' : `not a number (${String(value)})`}.`);
  }
  return Number(value);
}

/**
 * Loads a GGUF file of the LLaMA architecture (f32, f16, bf16 and q8_0 tensors; weights are
 * dequantized to f32). The header is parsed by `@huggingface/gguf`; tensor data is read by offset.
 * The tokenizer (SentencePiece or byte-level BPE) and the chat template come from the file's `tokenizer.*` metadata.
 */
export async function loadGgufModel(data: ArrayBuffer | Uint8Array): Promise<Model> {
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
  const architecture = metadata['general.architecture'];
  if (architecture !== 'llama') {
    throw new ModelFormatError(
      `GGUF: the architecture is ${JSON.stringify(architecture)}; this runner supports "llama" (LLaMA-family decoders).`,
    );
  }
  const tensors = new Map(tensorInfos.map((info) => [info.name, info]));
  const embedding = tensors.get('token_embd.weight');
  if (!embedding || embedding.shape.length !== 2) throw new ModelFormatError('GGUF: there is no 2-D tensor token_embd.weight.');
  const dim = metadataNumber(metadata, 'llama.embedding_length');
  const queryHeads = metadataNumber(metadata, 'llama.attention.head_count');
  const headDim = dim / queryHeads;
  const ropeDims = metadataNumber(metadata, 'llama.rope.dimension_count', headDim);
  if (ropeDims !== headDim) {
    throw new ModelFormatError(`GGUF: RoPE covers ${ropeDims} of ${headDim} head dimensions; partial rotary is not supported.`);
  }
  const config = validateConfig(
    {
      dim,
      hiddenDim: metadataNumber(metadata, 'llama.feed_forward_length'),
      layers: metadataNumber(metadata, 'llama.block_count'),
      queryHeads,
      kvHeads: metadataNumber(metadata, 'llama.attention.head_count_kv', queryHeads),
      headDim,
      vocabSize: Number(embedding.shape[1]),
      contextLength: metadataNumber(metadata, 'llama.context_length'),
      ropeTheta: metadataNumber(metadata, 'llama.rope.freq_base', 10000),
      normEps: metadataNumber(metadata, 'llama.attention.layer_norm_rms_epsilon', Math.fround(1e-5)),
    },
    'GGUF llama metadata',
  );

  const dataStart = Number(parsed.tensorDataOffset);
  const tensorTypes: Record<string, string> = {};
  const read = (name: string, shape: readonly number[]): Float32Array => {
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
    return dequantize(info.dtype, bytes.subarray(start, end), count);
  };

  const { hiddenDim, kvHeads, vocabSize } = config;
  const qDim = queryHeads * headDim;
  const kvDim = kvHeads * headDim;
  const tokenEmbedding = read('token_embd.weight', [dim, vocabSize]);
  const layers: LayerWeights[] = Array.from({ length: config.layers }, (_, l) => ({
    attentionNorm: read(`blk.${l}.attn_norm.weight`, [dim]),
    wq: read(`blk.${l}.attn_q.weight`, [dim, qDim]),
    wk: read(`blk.${l}.attn_k.weight`, [dim, kvDim]),
    wv: read(`blk.${l}.attn_v.weight`, [dim, kvDim]),
    wo: read(`blk.${l}.attn_output.weight`, [qDim, dim]),
    ffnNorm: read(`blk.${l}.ffn_norm.weight`, [dim]),
    w1: read(`blk.${l}.ffn_gate.weight`, [dim, hiddenDim]),
    w2: read(`blk.${l}.ffn_down.weight`, [hiddenDim, dim]),
    w3: read(`blk.${l}.ffn_up.weight`, [dim, hiddenDim]),
  }));
  const finalNorm = read('output_norm.weight', [dim]);
  const classifier = tensors.has('output.weight') ? read('output.weight', [dim, vocabSize]) : tokenEmbedding;
  const rope = ropeTables(headDim, config.contextLength, config.ropeTheta);
  return {
    config,
    weights: { tokenEmbedding, layers, finalNorm, classifier, ropeCos: rope.cos, ropeSin: rope.sin },
    tokenizer: readGgufTokenizer(metadata, config.vocabSize),
    chatTemplate: readChatTemplate(metadata),
    source: { format: 'gguf', tensorTypes },
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
