import { ModelFormatError } from '../errors.js';
import { type ModelConfig, validateConfig } from './config.js';
import type { Model } from './model.js';
import { ropeTables } from './rope.js';
import { type Tokenizer, parseLlama2cTokenizer } from './tokenizer.js';
import type { LayerWeights, ModelWeights } from './weights.js';

const HEADER_BYTES = 7 * 4;
/** llama2.c's newer export formats start with this magic ("ak42"); only the legacy format is read. */
const EXPORT_MAGIC = 0x616b3432;

/**
 * Loads a llama2.c checkpoint (the legacy format `run.c` reads: seven int32s dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len, then f32 weights; a negative vocab size means
 * the classifier is stored separately) and, when given, its `tokenizer.bin`.
 */
export function loadLlama2cModel(checkpoint: ArrayBuffer | Uint8Array, tokenizer?: ArrayBuffer | Uint8Array): Model {
  const bytes = checkpoint instanceof Uint8Array ? checkpoint : new Uint8Array(checkpoint);
  if (bytes.byteLength < HEADER_BYTES) {
    throw new ModelFormatError(`llama2.c checkpoint: only ${bytes.byteLength} bytes, shorter than the 28-byte header.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true));
  const [dim, hiddenDim, layers, queryHeads, kvHeads, signedVocab, contextLength] = header as [
    number, number, number, number, number, number, number,
  ];
  if (view.getUint32(0, true) === EXPORT_MAGIC) {
    throw new ModelFormatError(
      `llama2.c checkpoint: this is llama2.c's version ${header[1]} export format; export it with --version 0 (the legacy format run.c reads).`,
    );
  }
  const config = validateConfig(
    {
      dim,
      hiddenDim,
      layers,
      queryHeads,
      kvHeads,
      headDim: dim / queryHeads,
      vocabSize: Math.abs(signedVocab),
      contextLength,
      ropeTheta: 10000,
      normEps: Math.fround(1e-5), // llama2.c adds the f32 constant 1e-5f
      ropeStyle: 'adjacent',
    },
    'llama2.c checkpoint (header dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len)',
  );
  const weights = readWeights(bytes, config, signedVocab > 0);
  return {
    config,
    weights,
    tokenizer: tokenizer === undefined ? undefined : readTokenizer(tokenizer, config),
    source: { format: 'llama2c', tensorTypes: { all: 'f32' } },
  };
}

function readTokenizer(data: ArrayBuffer | Uint8Array, config: ModelConfig): Tokenizer {
  return parseLlama2cTokenizer(data, config.vocabSize);
}

function readWeights(bytes: Uint8Array, config: ModelConfig, sharedClassifier: boolean): ModelWeights {
  const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength } = config;
  const qDim = queryHeads * headDim;
  const kvDim = kvHeads * headDim;
  const sizes = {
    tokenEmbedding: vocabSize * dim,
    attentionNorm: layers * dim,
    wq: layers * qDim * dim,
    wk: layers * kvDim * dim,
    wv: layers * kvDim * dim,
    wo: layers * dim * qDim,
    ffnNorm: layers * dim,
    w1: layers * hiddenDim * dim,
    w2: layers * dim * hiddenDim,
    w3: layers * hiddenDim * dim,
    finalNorm: dim,
    ropeTables: contextLength * headDim, // freq_cis real and imaginary, which run.c now recomputes
    classifier: sharedClassifier ? 0 : vocabSize * dim,
  };
  const floats = Object.values(sizes).reduce((a, b) => a + b, 0);
  const expected = HEADER_BYTES + floats * 4;
  if (bytes.byteLength !== expected) {
    const what = bytes.byteLength < expected ? 'truncated' : 'longer than its header says';
    throw new ModelFormatError(
      `llama2.c checkpoint: ${bytes.byteLength} bytes, but its header (dim ${dim}, ${layers} layers, vocab ${vocabSize}, ` +
        `context ${contextLength}) needs exactly ${expected}: the file is ${what}. Re-download or re-export it.`,
    );
  }
  const all = floatView(bytes, HEADER_BYTES, floats);
  let offset = 0;
  const take = (count: number): Float32Array => all.subarray(offset, (offset += count));
  const tokenEmbedding = take(sizes.tokenEmbedding);
  const attentionNorm = take(sizes.attentionNorm);
  const wq = take(sizes.wq);
  const wk = take(sizes.wk);
  const wv = take(sizes.wv);
  const wo = take(sizes.wo);
  const ffnNorm = take(sizes.ffnNorm);
  const w1 = take(sizes.w1);
  const w2 = take(sizes.w2);
  const w3 = take(sizes.w3);
  const finalNorm = take(sizes.finalNorm);
  take(sizes.ropeTables);
  const classifier = sharedClassifier ? tokenEmbedding : take(sizes.classifier);
  const slice = (array: Float32Array, layer: number, size: number) => array.subarray(layer * size, (layer + 1) * size);
  const layerWeights: LayerWeights[] = Array.from({ length: layers }, (_, l) => ({
    attentionNorm: slice(attentionNorm, l, dim),
    wq: slice(wq, l, qDim * dim),
    wk: slice(wk, l, kvDim * dim),
    wv: slice(wv, l, kvDim * dim),
    wo: slice(wo, l, dim * qDim),
    ffnNorm: slice(ffnNorm, l, dim),
    w1: slice(w1, l, hiddenDim * dim),
    w2: slice(w2, l, dim * hiddenDim),
    w3: slice(w3, l, hiddenDim * dim),
  }));
  const rope = ropeTables(headDim, contextLength, config.ropeTheta);
  return { tokenEmbedding, layers: layerWeights, finalNorm, classifier, ropeCos: rope.cos, ropeSin: rope.sin };
}

/** Little-endian f32s at `byteOffset`: a view when aligned, else a copy. */
function floatView(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const start = bytes.byteOffset + byteOffset;
  if (start % 4 === 0) return new Float32Array(bytes.buffer, start, count);
  return new Float32Array(bytes.slice(byteOffset, byteOffset + count * 4).buffer);
}
