import { type TensorType, dequantizeTensor } from '@adakv/allocator-wasm';
import type { Model } from '../../src/index.js';
import { type TensorSpec, encodeTensor, llamaMetadata, writeGguf } from './gguf-writer.js';

// Small random-weight GGUF files of each architecture, and an f64 forward pass written from the
// architectures' descriptions over the weights as the file stores them (dequantized).

export interface Shape {
  architecture: 'llama' | 'qwen2';
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  context: number;
  /** Llama 3.1's per-pair frequency factors (rope_freqs.weight). */
  ropeFreqs: boolean;
  tied: boolean;
}

function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32 - 0.5;
  };
}

/** Writes the file, and returns the weights as the file holds them (each matrix quantized and dequantized). */
export function randomGguf(shape: Shape, type: TensorType, seed: number): { file: Uint8Array; tensors: Map<string, Float64Array> } {
  const { architecture, dim, hidden, layers, heads, kvHeads, vocab, context } = shape;
  const headDim = dim / heads;
  const next = random(seed);
  const values = (count: number, scale: number, offset = 0) => Float32Array.from({ length: count }, () => offset + next() * scale);
  const specs: TensorSpec[] = [];
  const held = new Map<string, Float64Array>();
  const add = (name: string, ggmlShape: number[], data: Float32Array, tensorType: TensorType) => {
    specs.push({ name, shape: ggmlShape, values: data, type: tensorType });
    const cols = ggmlShape[0]!;
    const rows = data.length / cols;
    // what the file will hold, read back the way any reader dequantizes it
    const stored = tensorType === 'f32' ? data : dequantizeTensor(tensorType, encodeTensor(data, tensorType), rows, cols);
    held.set(name, Float64Array.from(stored));
  };
  const matrix = (name: string, out: number, inner: number, scale = 0.08) => add(name, [inner, out], values(out * inner, scale), type);
  const vector = (name: string, size: number, scale: number, offset: number) => add(name, [size], values(size, scale, offset), 'f32');
  matrix('token_embd.weight', vocab, dim, 1);
  for (let l = 0; l < layers; l++) {
    vector(`blk.${l}.attn_norm.weight`, dim, 0.2, 1);
    matrix(`blk.${l}.attn_q.weight`, dim, dim);
    matrix(`blk.${l}.attn_k.weight`, kvHeads * headDim, dim);
    matrix(`blk.${l}.attn_v.weight`, kvHeads * headDim, dim);
    if (architecture === 'qwen2') {
      vector(`blk.${l}.attn_q.bias`, dim, 0.5, 0);
      vector(`blk.${l}.attn_k.bias`, kvHeads * headDim, 0.5, 0);
      vector(`blk.${l}.attn_v.bias`, kvHeads * headDim, 0.5, 0);
    }
    matrix(`blk.${l}.attn_output.weight`, dim, dim);
    vector(`blk.${l}.ffn_norm.weight`, dim, 0.2, 1);
    matrix(`blk.${l}.ffn_gate.weight`, hidden, dim);
    matrix(`blk.${l}.ffn_down.weight`, dim, hidden);
    matrix(`blk.${l}.ffn_up.weight`, hidden, dim);
  }
  vector('output_norm.weight', dim, 0.2, 1);
  if (!shape.tied) matrix('output.weight', vocab, dim, 0.5);
  if (shape.ropeFreqs) vector('rope_freqs.weight', headDim / 2, 6, 4); // factors 1..7, as Llama 3.1's range
  const config = { dim, hiddenDim: hidden, layers, queryHeads: heads, kvHeads, headDim, vocabSize: vocab, contextLength: context, ropeTheta: 500000, normEps: 1e-5 };
  const metadata = llamaMetadata({ config, tokenizer: undefined } as unknown as Model, specs.length, architecture);
  return { file: writeGguf(metadata, specs), tensors: held };
}

/** The decoder in f64, from the papers' and llama.cpp's descriptions: one token at a time over a K/V list. */
export function referenceLogits(shape: Shape, w: Map<string, Float64Array>, tokens: number[]): Float64Array[] {
  const { dim, hidden, layers, heads, kvHeads, vocab } = shape;
  const headDim = dim / heads;
  const group = heads / kvHeads;
  const half = headDim / 2;
  const get = (name: string) => w.get(name)!;
  const project = (m: Float64Array, x: Float64Array, out: number) => {
    const result = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let sum = 0;
      for (let i = 0; i < x.length; i++) sum += m[o * x.length + i]! * x[i]!;
      result[o] = sum;
    }
    return result;
  };
  const norm = (x: Float64Array, weight: Float64Array) => {
    const scale = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + 1e-5);
    return x.map((v, i) => v * scale * weight[i]!);
  };
  const rope = (v: Float64Array, count: number, position: number) => {
    for (let h = 0; h < count; h++) {
      for (let j = 0; j < half; j++) {
        let freq = 500000 ** (-(2 * j) / headDim);
        if (shape.ropeFreqs) freq /= get('rope_freqs.weight')[j]!;
        const [c, s] = [Math.cos(position * freq), Math.sin(position * freq)];
        // llama: adjacent pairs; qwen2: rotate-half (NeoX)
        const [a, b] = shape.architecture === 'llama' ? [h * headDim + 2 * j, h * headDim + 2 * j + 1] : [h * headDim + j, h * headDim + j + half];
        const [x0, x1] = [v[a]!, v[b]!];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  };
  const keys: Float64Array[][] = Array.from({ length: layers }, () => []);
  const values: Float64Array[][] = Array.from({ length: layers }, () => []);
  const out: Float64Array[] = [];
  tokens.forEach((token, position) => {
    let x = get('token_embd.weight').slice(token * dim, (token + 1) * dim);
    for (let l = 0; l < layers; l++) {
      const p = (name: string) => get(`blk.${l}.${name}`);
      const h = norm(x, p('attn_norm.weight'));
      const q = project(p('attn_q.weight'), h, dim);
      const k = project(p('attn_k.weight'), h, kvHeads * headDim);
      const v = project(p('attn_v.weight'), h, kvHeads * headDim);
      if (shape.architecture === 'qwen2') {
        q.forEach((_, i) => (q[i]! += p('attn_q.bias')[i]!));
        k.forEach((_, i) => (k[i]! += p('attn_k.bias')[i]!));
        v.forEach((_, i) => (v[i]! += p('attn_v.bias')[i]!));
      }
      rope(q, heads, position);
      rope(k, kvHeads, position);
      keys[l]!.push(k);
      values[l]!.push(v);
      const attention = new Float64Array(dim);
      for (let head = 0; head < heads; head++) {
        const kv = Math.floor(head / group) * headDim;
        const logits = keys[l]!.map((key) => {
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += q[head * headDim + i]! * key[kv + i]!;
          return dot / Math.sqrt(headDim);
        });
        const max = Math.max(...logits);
        const weights = logits.map((z) => Math.exp(z - max));
        const total = weights.reduce((a, b) => a + b, 0);
        for (let i = 0; i < headDim; i++) {
          attention[head * headDim + i] = weights.reduce((sum, weight, t) => sum + (weight / total) * values[l]![t]![kv + i]!, 0);
        }
      }
      const projected = project(p('attn_output.weight'), attention, dim);
      x = x.map((value, i) => value + projected[i]!);
      const h2 = norm(x, p('ffn_norm.weight'));
      const gate = project(p('ffn_gate.weight'), h2, hidden);
      const up = project(p('ffn_up.weight'), h2, hidden);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = project(p('ffn_down.weight'), act, dim);
      x = x.map((value, i) => value + down[i]!);
    }
    out.push(project(w.get('output.weight') ?? get('token_embd.weight'), norm(x, get('output_norm.weight')), vocab));
  });
  return out;
}

/** Greatest difference relative to the largest reference logit. */
export function relativeError(actual: ArrayLike<number>, expected: Float64Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  return worst / scale;
}

