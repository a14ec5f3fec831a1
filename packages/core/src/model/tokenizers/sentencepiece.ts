import { ModelFormatError, OptionError } from '../../errors.js';
import { refuseOverLongText, refuseOverLongTokens, tokenLowerBound } from './limits.js';
import { MergeQueue } from './merge-queue.js';
import { type SpecialTokenOptions, SpecialTokens } from './special-tokens.js';
import { decodeTokens } from './text-stream.js';
import { type DecodeOptions, type EncodeOptions, type SpecialTokenIds, type TextTokenizer, TokenType } from './types.js';
import { byteKey, utf8, utf8Length } from './utf8.js';

/** The token types, special tokens and encoding defaults of a {@link SentencePieceTokenizer}. */
export interface SentencePieceOptions extends SpecialTokenOptions {
  /**
   * Each piece's {@link TokenType} (GGUF `tokenizer.ggml.token_type`). Without it (llama2.c's
   * tokenizer.bin) byte pieces are byte tokens, BOS and EOS control tokens and the rest normal.
   */
  types?: ArrayLike<number>;
  /** Default of `encode`'s `bos` (true), `eos` (false) and `dummyPrefix` (true: `add_space_prefix`). */
  addBos?: boolean;
  /** Default of `encode`'s `eos`. */
  addEos?: boolean;
  /** Default of `encode`'s `dummyPrefix`. */
  addSpacePrefix?: boolean;
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
  for (let byte = 0; byte < 256; byte++) {
    if (keys[3 + byte] !== byteKey(utf8.encode(String.fromCharCode(byte)))) return tokens;
  }
  for (let byte = 0; byte < 256; byte++) tokens.set(byte, 3 + byte);
  return tokens;
}

interface SentencePieceCandidate {
  priority: number;
  left: number;
  right: number;
  /** The ids both symbols had when queued: if either has changed since, the candidate is stale. */
  leftId: number;
  rightId: number;
  merged: number;
}

/**
 * The SentencePiece-style BPE tokenizer of llama2.c and llama.cpp (`llama` vocabularies: Llama 1/2,
 * TinyLlama, Mistral): pieces are byte strings with scores; encoding starts from UTF-8 code points (or
 * `<0xXX>` byte tokens when a code point has no piece) and merges the best-scoring adjacent pair until
 * no pair is a piece. Only normal pieces are merged into: control tokens never come from plain text.
 */
export class SentencePieceTokenizer implements TextTokenizer {
  /** SentencePiece-style BPE. */
  readonly kind = 'sentencepiece' as const;
  /** Each token's bytes. */
  readonly pieces: readonly Uint8Array[];
  /** Each token's merge score (higher merges first). */
  readonly scores: Float32Array;
  /** The special tokens the vocabulary names. */
  readonly specialTokens: SpecialTokenIds;
  readonly addBos: boolean;
  /** Whether `encode` adds EOS by default. */
  readonly addEos: boolean;
  /** Whether `encode` prepends a space by default (`dummyPrefix`). */
  readonly addSpacePrefix: boolean;
  private readonly specials: SpecialTokens;
  private readonly ids = new Map<string, number>();
  private readonly keys: string[];
  private readonly byteTokens = new Int32Array(256).fill(-1);
  private readonly byteOfToken = new Map<number, number>();
  /** The most bytes one token can stand for (byte tokens stand for one). */
  private readonly maxPieceBytes: number;

  constructor(pieces: readonly Uint8Array[], scores: Float32Array, options: SentencePieceOptions = {}) {
    if (pieces.length !== scores.length || pieces.length === 0) {
      throw new ModelFormatError(`Tokenizer: ${pieces.length} pieces but ${scores.length} scores.`);
    }
    this.pieces = pieces;
    this.scores = scores;
    this.keys = pieces.map(byteKey);
    findByteTokens(this.keys).forEach((id, byte) => {
      this.byteTokens[byte] = id;
      this.byteOfToken.set(id, byte);
      this.keys[id] = `\u0100${byte}`; // above any byte value: a byte token never merges into a piece
    });
    const types = this.tokenTypes(options);
    const decoder = new TextDecoder();
    this.specials = new SpecialTokens(
      pieces.map((piece) => decoder.decode(piece)),
      types,
      options,
      { bos: 1, eos: 2 },
    );
    this.specialTokens = this.specials.ids;
    this.addBos = options.addBos ?? true;
    this.addEos = options.addEos ?? false;
    this.addSpacePrefix = options.addSpacePrefix ?? true;
    this.keys.forEach((key, id) => {
      // byte tokens only stand in for bytes without a piece, as in SentencePiece; the first match wins
      if (this.specials.isMergeable(id) && !this.byteOfToken.has(id) && !this.ids.has(key)) this.ids.set(key, id);
    });
    let longest = 1;
    pieces.forEach((piece, id) => {
      if (!this.byteOfToken.has(id)) longest = Math.max(longest, piece.length);
    });
    this.maxPieceBytes = longest;
  }

  get bosToken(): number {
    return this.specialTokens.bos;
  }

  /** End of sequence. */
  get eosToken(): number {
    return this.specialTokens.eos;
  }

  /** Tokens in the vocabulary. */
  get vocabSize(): number {
    return this.pieces.length;
  }

  /** The byte a byte-fallback token stands for, or undefined for ordinary pieces. */
  byteOf(token: number): number | undefined {
    return this.byteOfToken.get(token);
  }

  /**
   * Token ids of `text`, exactly as llama2.c's `encode` computes them, in O(n log n); text around special
   * tokens (with `special`) is encoded piece by piece, each after a special token with the dummy prefix,
   * as llama.cpp does. With `maxTokens`, throws `ContextOverflowError` when the result would be longer.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const { bos = this.addBos, eos = this.addEos, dummyPrefix = this.addSpacePrefix, special = false, maxTokens } = options;
    refuseOverLongText(this, text, options);
    const tokens: number[] = bos ? [this.bosToken] : [];
    let afterSpecial = true;
    for (const fragment of this.specials.split(text, special)) {
      if (typeof fragment === 'number') tokens.push(fragment);
      else this.encodeText(dummyPrefix && afterSpecial ? ` ${fragment}` : fragment, tokens);
      afterSpecial = typeof fragment === 'number';
    }
    if (eos) tokens.push(this.eosToken);
    refuseOverLongTokens(text, tokens, maxTokens);
    return tokens;
  }

  /**
   * A lower bound on `encode(text, options).length`, in one pass over the characters and without
   * encoding: every token stands for at most as many UTF-8 bytes as the longest piece, plus BOS/EOS.
   * Lets callers refuse text that cannot fit a context before paying for its encoding.
   */
  minTokens(text: string, options: Omit<EncodeOptions, 'maxTokens'> = {}): number {
    const { bos = this.addBos, eos = this.addEos, dummyPrefix = this.addSpacePrefix } = options;
    const bytes = utf8Length(text) + (dummyPrefix && text.length > 0 ? 1 : 0);
    return tokenLowerBound(bytes, this.maxPieceBytes, bos, eos);
  }

  /**
   * The bytes `token` stands for when it follows `previous`: a leading space after BOS is dropped and
   * `<0xXX>` pieces become their byte, as llama2.c's `decode`; control tokens print nothing unless `special`.
   */
  decodePiece(previous: number, token: number, special = false): Uint8Array {
    const type = this.tokenType(token);
    const piece = this.pieces[token]!;
    if (type === TokenType.control || type === TokenType.unknown || type === TokenType.unused) {
      return special ? piece : new Uint8Array(0);
    }
    const byte = this.byteOfToken.get(token);
    if (byte !== undefined) return Uint8Array.of(byte);
    return previous === this.bosToken && piece[0] === 0x20 ? piece.subarray(1) : piece;
  }

  /** Text of a token sequence (control tokens, BOS and EOS among them, print nothing unless `special`). */
  decode(tokens: readonly number[], options: DecodeOptions = {}): string {
    return decodeTokens(this, tokens, options);
  }

  tokenText(token: number): string {
    this.tokenType(token);
    return new TextDecoder().decode(this.pieces[token]);
  }

  /** What vocabulary entry `token` is. */
  tokenType(token: number): TokenType {
    if (!Number.isInteger(token) || token < 0 || token >= this.pieces.length) {
      throw new OptionError(`Token ${token} is outside the vocabulary [0, ${this.vocabSize}).`);
    }
    return this.specials.type(token);
  }

  isEndOfText(token: number): boolean {
    return this.specials.isEndOfText(token);
  }

  private tokenTypes(options: SentencePieceOptions): Uint8Array {
    if (options.types) return Uint8Array.from({ length: this.pieces.length }, (_, id) => options.types![id] ?? TokenType.normal);
    const types = new Uint8Array(this.pieces.length).fill(TokenType.normal);
    for (const id of this.byteOfToken.keys()) types[id] = TokenType.byte;
    for (const id of [options.bos ?? 1, options.eos ?? 2]) if (id >= 0 && id < types.length) types[id] = TokenType.control;
    return types;
  }

  /** Code points to pieces (or byte tokens, or the unknown token), then merged. */
  private encodeText(text: string, out: number[]): void {
    const bytes = utf8.encode(text);
    const symbols: number[] = [];
    let start = 0;
    while (start < bytes.length) {
      let end = start + 1;
      while (end < bytes.length && end - start < 4 && (bytes[end]! & 0xc0) === 0x80) end++;
      const codePoint = bytes.subarray(start, end);
      const id = this.ids.get(byteKey(codePoint));
      if (id !== undefined) symbols.push(id);
      else if (this.byteTokens[codePoint[0]!]! < 0 && this.specialTokens.unk !== undefined) symbols.push(this.specialTokens.unk);
      else for (const byte of codePoint) symbols.push(this.byteToken(byte));
      start = end;
    }
    for (const token of this.mergePairs(symbols)) out.push(token);
  }

  private byteToken(byte: number): number {
    const id = this.byteTokens[byte]!;
    if (id < 0) {
      const hex = byte.toString(16).toUpperCase().padStart(2, '0');
      throw new OptionError(`The tokenizer cannot encode this text: it has no piece for byte 0x${hex} (no <0x${hex}> token).`);
    }
    return id;
  }

  /**
   * llama2.c merges the best-scoring adjacent pair (leftmost on ties) until none is a piece, rescanning
   * every pair after each merge: O(n^2). The same choices come from a queue of candidate merges over a
   * linked list of symbols: a symbol is named by the position of its first token, and merging keeps
   * the left one, so list order is position order and "leftmost" compares positions. A merge only
   * creates the two pairs around the new symbol; queued pairs it changed are dropped when popped.
   */
  private mergePairs(tokens: readonly number[]): number[] {
    const n = tokens.length;
    const ids = Int32Array.from(tokens); // -1 once merged into the symbol on its left
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    const queue = new MergeQueue<SentencePieceCandidate>();
    const consider = (left: number, right: number): void => {
      if (left < 0 || right >= n) return;
      const merged = this.ids.get(this.keys[ids[left]!]! + this.keys[ids[right]!]!);
      // llama2.c starts its best score at -1e10 and needs to beat it (NaN never does)
      if (merged === undefined || !(this.scores[merged]! > -1e10)) return;
      queue.push({ priority: this.scores[merged]!, left, right, leftId: ids[left]!, rightId: ids[right]!, merged });
    };
    for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
    // A symbol's id changes only when it absorbs its right neighbour, to a longer piece, so it never
    // returns to an id it had; and two live symbols still holding their queued ids are still neighbours.
    for (let c = queue.pop(); c !== undefined; c = queue.pop()) {
      if (ids[c.left] !== c.leftId || ids[c.right] !== c.rightId) continue;
      ids[c.left] = c.merged;
      ids[c.right] = -1;
      const after = next[c.right]!;
      next[c.left] = after;
      if (after < n) prev[after] = c.left;
      consider(prev[c.left]!, c.left);
      consider(c.left, after);
    }
    const merged: number[] = [];
    for (let i = 0; i < n; i = next[i]!) merged.push(ids[i]!);
    return merged;
  }
}
