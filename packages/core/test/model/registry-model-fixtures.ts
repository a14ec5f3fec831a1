import { loadLlama2cModel } from '../../src/model/llama2c.js';
import { gpt2TokenizerMetadata, modelToGguf } from './gguf-writer.js';
import { type RandomModelShape, randomCheckpoint } from './random-model.js';

// Small real model files for the registry-model tests (core and CLI): a GGUF that loads and generates
// with a byte-level vocabulary (any text encodes), and a llama2.c checkpoint with its tokenizer.bin.

/** GPT-2's printable stand-ins for the 256 byte values (`bytes_to_unicode`), by byte value. */
export function byteLevelTokens(): string[] {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = [...bytes];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + extra++);
    }
  }
  const tokens = new Array<string>(256);
  bytes.forEach((byte, i) => (tokens[byte] = String.fromCodePoint(chars[i]!)));
  return tokens;
}

/**
 * A tiny random LLaMA GGUF (f32, one layer, dim 16) whose tokenizer is byte-level BPE over the 256
 * bytes, no merges: it encodes any prompt, loads with `loadModelFile` and generates (noise).
 */
export function tinyGguf(seed = 3, contextLength = 256): Uint8Array {
  const shape: RandomModelShape = { dim: 16, hiddenDim: 32, layers: 1, heads: 2, kvHeads: 1, vocab: 256, contextLength };
  const model = loadLlama2cModel(randomCheckpoint(shape, seed));
  const tokenizer = gpt2TokenizerMetadata({ tokens: byteLevelTokens(), merges: [], tokenTypes: new Array(256).fill(1), pre: 'gpt2', eos: 0 });
  return modelToGguf(model as Parameters<typeof modelToGguf>[0], 'f32', tokenizer);
}

const TINY_VOCAB = ['<unk>', '<s>', '</s>', ' ', 'a', 'b', 'c', ' a'];

/** A tiny llama2.c checkpoint (vocabulary of 8) and its tokenizer.bin. */
export function tinyLlama2c(seed = 5): { model: Uint8Array; tokenizer: Uint8Array } {
  const model = randomCheckpoint({ dim: 8, hiddenDim: 16, layers: 1, heads: 2, kvHeads: 1, vocab: TINY_VOCAB.length, contextLength: 32 }, seed);
  const pieces = TINY_VOCAB.map((piece) => new TextEncoder().encode(piece));
  const tokenizer = new Uint8Array(4 + pieces.reduce((total, piece) => total + 8 + piece.byteLength, 0));
  const view = new DataView(tokenizer.buffer);
  view.setInt32(0, Math.max(...pieces.map((piece) => piece.byteLength)), true);
  let offset = 4;
  pieces.forEach((piece, id) => {
    view.setFloat32(offset, -id, true);
    view.setInt32(offset + 4, piece.byteLength, true);
    tokenizer.set(piece, offset + 8);
    offset += 8 + piece.byteLength;
  });
  return { model, tokenizer };
}
