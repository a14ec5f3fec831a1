import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  ContextOverflowError,
  type EncodeOptions,
  ModelFormatError,
  OptionError,
  Tokenizer,
  parseLlama2cTokenizer,
} from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { stories15m, stories15mFiles } from './stories15m.js';

const vocabularies = new WeakMap<Tokenizer, { keys: string[]; ids: Map<string, number>; bytes: Map<number, number> }>();
/**
 * The encoder as it was before the merge queue: llama2.c's scan of every adjacent pair after each
 * merge (O(n^2)), rebuilt from the public vocabulary. The reference the fast encoder must equal.
 */
function referenceEncode(tokenizer: Tokenizer, text: string, options: EncodeOptions = {}): number[] {
  const { bos = true, eos = false, dummyPrefix = true } = options;
  if (!vocabularies.has(tokenizer)) {
    const bytes = new Map<number, number>();
    const keys = tokenizer.pieces.map((piece, id) => {
      const byte = tokenizer.byteOf(id);
      if (byte === undefined) return String.fromCharCode(...piece);
      if (!bytes.has(byte)) bytes.set(byte, id);
      return `\u0100${byte}`;
    });
    const ids = new Map<string, number>();
    keys.forEach((key, id) => {
      if (tokenizer.byteOf(id) === undefined && !ids.has(key)) ids.set(key, id);
    });
    vocabularies.set(tokenizer, { keys, ids, bytes });
  }
  const { keys, ids, bytes: byteTokens } = vocabularies.get(tokenizer)!;
  const bytes = new TextEncoder().encode(dummyPrefix && text.length > 0 ? ` ${text}` : text);
  const tokens: number[] = [];
  for (let start = 0, end = 1; start < bytes.length; start = end, end = start + 1) {
    while (end < bytes.length && end - start < 4 && (bytes[end]! & 0xc0) === 0x80) end++;
    const codePoint = bytes.subarray(start, end);
    const id = ids.get(String.fromCharCode(...codePoint));
    if (id !== undefined) tokens.push(id);
    else for (const byte of codePoint) tokens.push(byteTokens.get(byte) ?? Number.NaN);
  }
  for (;;) {
    let [bestScore, bestId, bestIndex] = [-1e10, -1, -1];
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = ids.get(keys[tokens[i]!]! + keys[tokens[i + 1]!]!);
      if (id !== undefined && tokenizer.scores[id]! > bestScore) [bestScore, bestId, bestIndex] = [tokenizer.scores[id]!, id, i];
    }
    if (bestIndex < 0) break;
    tokens.splice(bestIndex, 2, bestId);
  }
  return [...(bos ? [tokenizer.bosToken] : []), ...tokens, ...(eos ? [tokenizer.eosToken] : [])];
}

const encoder = new TextEncoder();
/** `<unk>`, `<s>`, `</s>`, then the 256 `<0xXX>` byte tokens, then `pieces`: any text encodes. */
function syntheticTokenizer(pieces: readonly { piece: string; score: number }[]): Tokenizer {
  const hex = (byte: number) => `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
  const all = [
    ...['<unk>', '<s>', '</s>'].map((piece) => ({ piece, score: 0 })),
    ...Array.from({ length: 256 }, (_, byte) => ({ piece: hex(byte), score: 0 })),
    ...pieces,
  ];
  return new Tokenizer(
    all.map(({ piece }) => encoder.encode(piece)),
    Float32Array.from(all, ({ score }) => score),
  );
}

const encodeOptions = fc.record({ bos: fc.boolean(), eos: fc.boolean(), dummyPrefix: fc.boolean() });

/** Text as prompts come: words, whitespace runs, numbers, punctuation, any Unicode, lone surrogates. */
const promptText = fc
  .array(
    fc.oneof(
      fc.constantFrom('Once', 'upon', 'a', 'time', 'the', 'little', 'girl', 'named', 'Lily', 'happily', "don't", 'Mr.', 'Buster'),
      fc.constantFrom(' ', '  ', '    ', '\t', '\n', '\n\n', '\r\n', ' \t '),
      fc.integer({ min: 0, max: 10_000_000 }).map(String),
      fc.constantFrom('.', ',', '!', '?', '"', "'", '...', '--', '(', ')', ';', ':', '-', '_', '@', '#', '`', '~'),
      fc.constantFrom('é', 'naïve', 'café', '日本語', '中文字', '😀', '👍🏽', '👨‍👩‍👧', '✓', 'Ω', 'ß', 'ñ', '€', '\u0000', '\u00ff'),
      fc.constantFrom('\ud800', '\udfff', '\ud83d', 'a\udc00b', '\ude00\ud83d'),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

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

  it('encodes exactly as llama2.c does (the O(n^2) reference) on any text', () => {
    fc.assert(
      fc.property(promptText, encodeOptions, (text, options) => {
        const tokens = tokenizer().encode(text, options);
        expect(tokens).toEqual(referenceEncode(tokenizer(), text, options));
        expect(tokenizer().minTokens(text, options)).toBeLessThanOrEqual(tokens.length);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes 64 KB of real text, the same as the reference on its first 2 KB', () => {
    const text = gutenbergText(DEFAULT_CORPUS[0]).slice(0, 64 * 1024);
    const tokens = tokenizer().encode(text);
    expect(tokenizer().decode(tokens)).toBe(text);
    expect(tokens.length).toBeGreaterThanOrEqual(tokenizer().minTokens(text));
    expect(tokens.length).toBeLessThan(text.length);
    const head = text.slice(0, 2048);
    expect(tokenizer().encode(head)).toEqual(referenceEncode(tokenizer(), head));
  });

  it('refuses text longer than maxTokens, before encoding when the bound already shows it', () => {
    const text = gutenbergText(DEFAULT_CORPUS[0]).slice(0, 64 * 1024);
    expect(tokenizer().minTokens(text)).toBeGreaterThan(256);
    const merge = vi.spyOn(tokenizer() as unknown as { mergePairs: (tokens: number[]) => number[] }, 'mergePairs');
    try {
      expect(() => tokenizer().encode(text, { maxTokens: 256 })).toThrow(ContextOverflowError);
      expect(() => tokenizer().encode(text, { maxTokens: 256 })).toThrow(/65536 characters.*at least \d+ tokens.*limit of 256.*Shorten/);
      expect(merge).not.toHaveBeenCalled();
    } finally {
      merge.mockRestore();
    }
    // within the bound but not the limit: refused after encoding, with the exact count
    expect(tokenizer().minTokens('Once upon a time')).toBeLessThanOrEqual(4);
    expect(() => tokenizer().encode('Once upon a time', { maxTokens: 4 })).toThrow(ContextOverflowError);
    expect(() => tokenizer().encode('Once upon a time', { maxTokens: 4 })).toThrow(/is 5 tokens, more than the limit of 4/);
    expect(tokenizer().encode('Once upon a time', { maxTokens: 5 })).toEqual([1, 9038, 2501, 263, 931]);
    expect(tokenizer().encode('', { maxTokens: 1 })).toEqual([1]);
    expect(() => tokenizer().encode('', { maxTokens: 0 })).toThrow(ContextOverflowError);
    expect(() => tokenizer().encode('x', { maxTokens: -1 })).toThrow(OptionError);
    expect(() => tokenizer().encode('x', { maxTokens: Number.NaN })).toThrow(OptionError);
  });

  it('refuses a tokenizer.bin that does not fit the model', () => {
    const { tokenizer: bytes } = stories15mFiles();
    expect(() => parseLlama2cTokenizer(bytes, 32001)).toThrow(/ends after 32000 of 32001 tokens/);
    expect(() => parseLlama2cTokenizer(bytes, 512)).toThrow(/bytes remain after 512 tokens/);
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 1000), 32000)).toThrow(ModelFormatError);
    expect(() => parseLlama2cTokenizer(new Uint8Array(2), 32000)).toThrow(/only 2 bytes/);
  });
});

describe('Tokenizer merge order (synthetic vocabularies with many equal scores)', () => {
  const alphabet = ['a', 'b', ' ', 'é'];
  const strings = alphabet.flatMap((x) => [x, ...alphabet.flatMap((y) => [x + y, ...alphabet.map((z) => x + y + z)])]);
  // few distinct scores, so ties are the rule; -1e10 and NaN are never merged by llama2.c's scan
  const score = fc.constantFrom(0, -1, -1, -2, -2, -3, 1.5, -1e10, -Infinity, Number.NaN);

  it('merges the best-scoring pair, leftmost on ties, exactly as the reference', () => {
    const vocabulary = fc.record({
      singles: fc.array(score, { minLength: alphabet.length, maxLength: alphabet.length }),
      pieces: fc.array(fc.record({ piece: fc.constantFrom(...strings), score }), { maxLength: 60 }),
    });
    const text = fc
      .array(fc.constantFrom('a', 'b', ' ', 'é', 'ab', 'ba', 'aaaa', '  ', 'x', '😀', '\ud800'), { maxLength: 40 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(vocabulary, fc.array(text, { minLength: 1, maxLength: 5 }), encodeOptions, ({ singles, pieces }, texts, options) => {
        const toy = syntheticTokenizer([...alphabet.map((piece, i) => ({ piece, score: singles[i]! })), ...pieces]);
        for (const text of texts) expect(toy.encode(text, options)).toEqual(referenceEncode(toy, text, options));
      }),
      { numRuns: 400 },
    );
  });

  it('bounds the token count by the UTF-8 length, exactly when no piece is longer than a byte', () => {
    const bytesOnly = syntheticTokenizer([]);
    const plain = new Tokenizer(
      [...['<unk>', '<s>', '</s>'].map(() => new Uint8Array(0)), ...bytesOnly.pieces.slice(3)],
      bytesOnly.scores,
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), encodeOptions, (text, options) => {
        const { bos = true, eos = false, dummyPrefix = true } = options;
        const bytes = encoder.encode(dummyPrefix && text.length > 0 ? ` ${text}` : text).length;
        expect(plain.encode(text, options).length).toBe(bytes + Number(bos) + Number(eos));
        expect(plain.minTokens(text, options)).toBe(bytes + Number(bos) + Number(eos));
      }),
      { numRuns: 300 },
    );
  });
});
