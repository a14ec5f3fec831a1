import { ModelFormatError } from '../../errors.js';
import { SentencePieceTokenizer } from './sentencepiece.js';

/** Reads llama2.c's `tokenizer.bin`: max piece length (int32), then per token a f32 score, an int32 length, the bytes. */
export function parseLlama2cTokenizer(data: ArrayBuffer | Uint8Array, vocabSize: number): SentencePieceTokenizer {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string): never => {
    throw new ModelFormatError(
      `tokenizer.bin: ${what}. Is it the tokenizer that belongs to this model (vocabulary of ${vocabSize} tokens)?`,
    );
  };
  if (bytes.byteLength < 4) fail(`only ${bytes.byteLength} bytes`);
  const maxLength = view.getInt32(0, true);
  if (maxLength <= 0 || maxLength > 1 << 16) fail(`the max piece length is ${maxLength}`);
  const pieces: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  let offset = 4;
  for (let id = 0; id < vocabSize; id++) {
    if (offset + 8 > bytes.byteLength) fail(`it ends after ${id} of ${vocabSize} tokens`);
    scores[id] = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    offset += 8;
    if (length < 0 || length > maxLength) fail(`token ${id} has length ${length}, outside [0, ${maxLength}]`);
    if (offset + length > bytes.byteLength) fail(`it ends inside token ${id} of ${vocabSize}`);
    pieces.push(bytes.slice(offset, offset + length));
    offset += length;
  }
  if (offset !== bytes.byteLength) fail(`${bytes.byteLength - offset} bytes remain after ${vocabSize} tokens`);
  return new SentencePieceTokenizer(pieces, scores);
}
