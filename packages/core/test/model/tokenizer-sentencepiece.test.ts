import { GGUFValueType } from '@huggingface/gguf';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Model, SentencePieceTokenizer, TokenType, loadGgufModel } from '../../src/index.js';
import { modelToGguf, sentencePieceMetadata } from './gguf-writer.js';
import { stories15m } from './stories15m.js';
import { VARIED_TEXT, VARIED_TEXTS } from './varied-text.js';

/** llama.cpp's token types for a Llama 2 vocabulary: <unk> unknown, <s> and </s> control, <0xXX> byte, the rest normal. */
function llamaTokenTypes(tokenizer: SentencePieceTokenizer): number[] {
  return tokenizer.pieces.map((_, id) =>
    id === 0 ? TokenType.unknown : id === 1 || id === 2 ? TokenType.control : tokenizer.byteOf(id) !== undefined ? TokenType.byte : TokenType.normal,
  );
}

/**
 * stories15M as a GGUF file with its vocabulary as a Llama 2 GGUF has it: llama2.c's tokenizer.bin
 * wraps <s> and </s> in newlines, the SentencePiece model (and so GGUF) does not.
 */
async function ggufOfStories15m(extra: Record<string, unknown> = {}): Promise<Model> {
  const reference = stories15m();
  const tokens = (sentencePieceMetadata(reference.tokenizer)['tokenizer.ggml.tokens'] as { value: string[] }).value;
  [tokens[1], tokens[2]] = ['<s>', '</s>'];
  return loadGgufModel(
    modelToGguf(reference, 'q8_0', {
      'tokenizer.ggml.tokens': { value: tokens, type: GGUFValueType.ARRAY, subType: GGUFValueType.STRING },
      'tokenizer.ggml.token_type': { value: llamaTokenTypes(reference.tokenizer), type: GGUFValueType.ARRAY, subType: GGUFValueType.INT32 },
      'tokenizer.ggml.unknown_token_id': { value: 0, type: GGUFValueType.UINT32 },
      ...extra,
    } as never),
  );
}

describe('SentencePiece vocabularies from GGUF (stories15M’s llama2 vocabulary)', { timeout: 60_000 }, () => {
  let gguf: SentencePieceTokenizer;
  const bin = () => stories15m().tokenizer; // tokenizer.bin, held to llama2.c by tokenizer.test.ts

  beforeAll(async () => {
    gguf = (await ggufOfStories15m()).tokenizer as SentencePieceTokenizer;
  });

  it('encodes and decodes varied text exactly as the tokenizer.bin of the same vocabulary', () => {
    expect(gguf.kind).toBe('sentencepiece');
    for (const text of [...VARIED_TEXTS, VARIED_TEXT]) {
      const tokens = gguf.encode(text);
      expect(tokens, text).toEqual(bin().encode(text));
      expect(gguf.decode(tokens)).toBe(text);
      expect(bin().decode(tokens)).toBe(text);
    }
  });

  it('never produces control or unknown tokens from plain text, and cannot in tokenizer.bin either', () => {
    const tokens = gguf.encode('<s> </s> <unk> \n<s>\n', { bos: false });
    expect(tokens.every((token) => gguf.tokenType(token) === TokenType.normal || gguf.tokenType(token) === TokenType.byte)).toBe(true);
    // no two mergeable pieces of the vocabulary concatenate to a control piece, so keeping them out of
    // merges gives llama2.c's tokens exactly (tokenizer.bin's <s> is "\n<s>\n", </s> "\n</s>\n")
    const pieces = new Set(bin().pieces.filter((_, id) => bin().tokenType(id) === TokenType.normal).map((piece) => String.fromCharCode(...piece)));
    for (const id of [1, 2]) {
      const piece = String.fromCharCode(...bin().pieces[id]!);
      for (let k = 1; k < piece.length; k++) expect(pieces.has(piece.slice(0, k)) && pieces.has(piece.slice(k))).toBe(false);
    }
  });

  it('recognises special tokens only when asked, with a space prefix after each as llama.cpp', () => {
    expect(gguf.encode('<s>Hi</s>', { bos: false, special: true })).toEqual([1, ...gguf.encode('Hi', { bos: false }), 2]);
    expect(gguf.encode('<s>Hi', { bos: false })).toEqual(gguf.encode('<s>Hi', { bos: false, special: false }));
    expect(gguf.encode('<s>Hi', { bos: false })).not.toContain(1);
    expect(gguf.decode(gguf.encode('<s>Hi</s>', { special: true }))).toBe('Hi');
    expect(gguf.decode(gguf.encode('<s>Hi</s>', { bos: false, special: true }), { special: true })).toBe('<s>Hi</s>'); // the space after BOS is dropped, as in decoding
    expect(gguf.tokenText(1)).toBe('<s>');
  });

  it('honours add_space_prefix, add_bos_token and add_eos_token', async () => {
    const flags = (value: boolean) => ({ value, type: GGUFValueType.BOOL });
    const tokenizer = (await ggufOfStories15m({
      'tokenizer.ggml.add_space_prefix': flags(false),
      'tokenizer.ggml.add_bos_token': flags(false),
      'tokenizer.ggml.add_eos_token': flags(true),
    })).tokenizer!;
    expect(tokenizer.encode('Once upon a time')).toEqual([...bin().encode('Once upon a time', { bos: false, dummyPrefix: false }), 2]);
    expect(tokenizer.encode('Once', { bos: true, eos: false, dummyPrefix: true })).toEqual(bin().encode('Once'));
  });

  it('ends generation at EOS and BOS (llama2.c: BOS delimits sequences), nothing else', () => {
    for (const tokenizer of [gguf, bin()]) {
      expect([0, 1, 2, 3, 9038].map((token) => tokenizer.isEndOfText(token))).toEqual([false, true, true, false, false]);
    }
  });
});
