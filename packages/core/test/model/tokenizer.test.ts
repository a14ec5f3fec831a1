import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelFormatError, OptionError, Tokenizer, parseLlama2cTokenizer } from '../../src/index.js';
import { stories15m, stories15mFiles } from './stories15m.js';

describe('Tokenizer (stories15M tokenizer.bin)', () => {
  const tokenizer = () => stories15m().tokenizer!;

  it('encodes like SentencePiece: BOS, dummy prefix, best-score merges', () => {
    expect(tokenizer().encode('Once upon a time')).toEqual([1, 9038, 2501, 263, 931]);
    expect(tokenizer().encode('Once upon a time', { bos: false, eos: true })).toEqual([9038, 2501, 263, 931, 2]);
    expect(tokenizer().encode('')).toEqual([1]);
    expect(tokenizer().encode('', { bos: false })).toEqual([]);
  });

  it('falls back to byte tokens for characters without a piece, and decodes them back to bytes', () => {
    const text = 'Hi 😀 ✓';
    const tokens = tokenizer().encode(text, { bos: false });
    const bytes = [...new TextEncoder().encode('😀')];
    for (const byte of bytes) expect(tokens).toContain(3 + byte); // <0xF0> <0x9F> <0x98> <0x80>
    expect(tokenizer().decode(tokens)).toBe(` ${text}`);
    expect(tokenizer().byteOf(3 + 0xf0)).toBe(0xf0);
    expect(tokenizer().byteOf(9038)).toBeUndefined();
  });

  it('drops the leading space of the first piece after BOS when decoding, as llama2.c', () => {
    expect(tokenizer().decode(tokenizer().encode('Once upon a time'))).toBe('Once upon a time');
    expect(Array.from(tokenizer().decodePiece(1, 9038))).toEqual(Array.from(new TextEncoder().encode('Once')));
    expect(Array.from(tokenizer().decodePiece(931, 9038))).toEqual(Array.from(new TextEncoder().encode(' Once')));
  });

  it('round-trips any text (decode(encode(s)) === s)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
        const tokens = tokenizer().encode(text);
        return tokenizer().decode(tokens) === text;
      }),
      { numRuns: 150 },
    );
  });

  it('merges the best-scoring pair first, whatever its position', () => {
    const pieces = ['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'ab', 'bc', ' ', ' a'].map((p) => new TextEncoder().encode(p));
    const scores = Float32Array.from([0, 0, 0, -5, -5, -5, -2, -1, -5, -3]);
    const toy = new Tokenizer(pieces, scores);
    expect(toy.encode('abc', { bos: false, dummyPrefix: false })).toEqual([3, 7]); // "bc" beats "ab"
    expect(toy.encode('abc', { bos: false })).toEqual([9, 7]); // " a" + "bc"
    expect(() => toy.encode('x', { bos: false })).toThrow(OptionError); // no piece and no byte tokens
  });

  it('refuses a tokenizer.bin that does not fit the model', () => {
    const { tokenizer: bytes } = stories15mFiles();
    expect(() => parseLlama2cTokenizer(bytes, 32001)).toThrow(/ends after 32000 of 32001 tokens/);
    expect(() => parseLlama2cTokenizer(bytes, 512)).toThrow(/bytes remain after 512 tokens/);
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 1000), 32000)).toThrow(ModelFormatError);
    expect(() => parseLlama2cTokenizer(new Uint8Array(2), 32000)).toThrow(/only 2 bytes/);
  });
});
