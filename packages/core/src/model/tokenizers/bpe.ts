import { OptionError } from '../../errors.js';
import { bytesToVocabText, vocabTextToBytes } from './byte-level.js';
import { refuseOverLongText, refuseOverLongTokens, tokenLowerBound } from './limits.js';
import { MergeQueue } from './merge-queue.js';
import { type PreTokenizer, preTokenizer } from './pre-tokenizers.js';
import { type SpecialTokenOptions, SpecialTokens } from './special-tokens.js';
import { decodeTokens } from './text-stream.js';
import { type DecodeOptions, type EncodeOptions, type SpecialTokenIds, type TextTokenizer, TokenType } from './types.js';
import { utf8, utf8Length } from './utf8.js';

/** A byte-level BPE vocabulary as GGUF's `gpt2` tokenizer stores it. */
export interface BpeVocabulary {
  /** `tokenizer.ggml.tokens`: normal tokens spelt with GPT-2's byte characters, special ones as written. */
  readonly tokens: readonly string[];
  /** `tokenizer.ggml.merges`: "left right" pairs, highest priority first. */
  readonly merges: readonly string[];
  /** `tokenizer.ggml.token_type` ({@link TokenType}); all normal when absent. */
  readonly types?: ArrayLike<number>;
  /** `tokenizer.ggml.pre`: the pre-tokenizer's name (`llama-bpe`, `qwen2`, `smollm`, `gpt2`, `default`). */
  readonly pre?: string;
  /** Ids of the special tokens (`tokenizer.ggml.bos_token_id`, ...). */
  readonly special?: SpecialTokenOptions;
  /** `tokenizer.ggml.add_bos_token` (default: the pre-tokenizer's, true for Llama 3) and `add_eos_token` (false). */
  readonly addBos?: boolean;
  /** Whether `encode` adds EOS by default (false unless given). */
  readonly addEos?: boolean;
}

interface BpeCandidate {
  priority: number;
  left: number;
  right: number;
  /** Where both symbols ended when queued: if either has grown or died since, the candidate is stale. */
  leftEnd: number;
  rightEnd: number;
}

/** Words longer than this are not cached (they rarely repeat); the cache is emptied when full. */
const CACHED_WORD_LENGTH = 256;
const CACHE_SIZE = 16384;

/**
 * Byte-level BPE (GPT-2's scheme, used by Llama 3, Qwen 2.5 and SmolLM): text is cut into words by the
 * vocabulary's pre-tokenizer, each word's UTF-8 bytes are spelt one character per byte, and adjacent
 * symbols are merged in merge-rank order (lowest rank, then leftmost), in O(n log n) per word with a
 * cache of words already seen.
 */
export class BpeTokenizer implements TextTokenizer {
  /** Byte-level BPE. */
  readonly kind = 'bpe' as const;
  /** The special tokens the vocabulary names. */
  readonly specialTokens: SpecialTokenIds;
  readonly addBos: boolean;
  /** Whether `encode` adds EOS by default. */
  readonly addEos: boolean;
  /** The pre-tokenizer that cuts text into words. */
  readonly pre: PreTokenizer;
  private readonly tokens: readonly string[];
  private readonly specials: SpecialTokens;
  private readonly ids = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly byteTokens = new Int32Array(256).fill(-1);
  private readonly pieces: (Uint8Array | undefined)[];
  private readonly cache = new Map<string, number[]>();
  private readonly maxPieceBytes: number;

  constructor(vocabulary: BpeVocabulary) {
    const { tokens, merges } = vocabulary;
    this.tokens = tokens;
    this.pre = preTokenizer(vocabulary.pre);
    const types = Uint8Array.from({ length: tokens.length }, (_, id) => vocabulary.types?.[id] ?? TokenType.normal);
    this.specials = new SpecialTokens(tokens, types, vocabulary.special ?? {}, {});
    this.specialTokens = this.specials.ids;
    this.addBos = vocabulary.addBos ?? this.pre.addBos;
    this.addEos = vocabulary.addEos ?? false;
    tokens.forEach((text, id) => {
      if (this.specials.isMergeable(id) && !this.ids.has(text)) this.ids.set(text, id);
    });
    merges.forEach((merge, rank) => {
      if (!this.ranks.has(merge)) this.ranks.set(merge, rank);
    });
    for (let byte = 0; byte < 256; byte++) {
      this.byteTokens[byte] = this.ids.get(bytesToVocabText(Uint8Array.of(byte))) ?? -1;
    }
    this.pieces = new Array(tokens.length);
    let longest = 1;
    tokens.forEach((text, id) => {
      // a normal token's characters are one byte each; others are their own UTF-8
      longest = Math.max(longest, types[id] === TokenType.normal ? text.length : utf8Length(text));
    });
    this.maxPieceBytes = longest;
  }

  /** Tokens in the vocabulary. */
  get vocabSize(): number {
    return this.tokens.length;
  }

  get bosToken(): number {
    return this.specialTokens.bos;
  }

  /** End of sequence. */
  get eosToken(): number {
    return this.specialTokens.eos;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const { bos = this.addBos, eos = this.addEos, special = false, maxTokens } = options;
    refuseOverLongText(this, text, options);
    const tokens: number[] = bos ? [this.bosToken] : [];
    for (const fragment of this.specials.split(text, special)) {
      if (typeof fragment === 'number') tokens.push(fragment);
      else this.encodeText(fragment, tokens);
    }
    if (eos) tokens.push(this.eosToken);
    refuseOverLongTokens(text, tokens, maxTokens);
    return tokens;
  }

  minTokens(text: string, options: Omit<EncodeOptions, 'maxTokens'> = {}): number {
    const { bos = this.addBos, eos = this.addEos } = options;
    let bytes = utf8Length(text);
    if (this.pre.normalize) bytes = Math.min(bytes, utf8Length(text.normalize(this.pre.normalize)));
    return tokenLowerBound(bytes, this.maxPieceBytes, bos, eos);
  }

  decode(tokens: readonly number[], options: DecodeOptions = {}): string {
    return decodeTokens(this, tokens, options);
  }

  decodePiece(_previous: number, token: number, special = false): Uint8Array {
    const type = this.tokenType(token);
    const hidden = type === TokenType.control || type === TokenType.unknown || type === TokenType.unused;
    if (hidden && !special) return new Uint8Array(0);
    return (this.pieces[token] ??= this.pieceBytes(token, type));
  }

  tokenText(token: number): string {
    const type = this.tokenType(token);
    return type === TokenType.normal || type === TokenType.byte ? new TextDecoder().decode(this.decodePiece(-1, token)) : this.tokens[token]!;
  }

  /** What vocabulary entry `token` is. */
  tokenType(token: number): TokenType {
    if (!Number.isInteger(token) || token < 0 || token >= this.tokens.length) {
      throw new OptionError(`Token ${token} is outside the vocabulary [0, ${this.vocabSize}).`);
    }
    return this.specials.type(token);
  }

  isEndOfText(token: number): boolean {
    return this.specials.isEndOfText(token);
  }

  private pieceBytes(token: number, type: TokenType): Uint8Array {
    const text = this.tokens[token]!;
    if (type === TokenType.normal) return vocabTextToBytes(text);
    const byte = type === TokenType.byte ? /^<0x([0-9A-Fa-f]{2})>$/.exec(text) : null;
    return byte ? Uint8Array.of(parseInt(byte[1]!, 16)) : utf8.encode(text);
  }

  private encodeText(text: string, out: number[]): void {
    const normalized = this.pre.normalize ? text.normalize(this.pre.normalize) : text;
    for (const word of this.pre.split(normalized)) {
      const cached = this.cache.get(word);
      if (cached) {
        for (const id of cached) out.push(id);
        continue;
      }
      const ids = this.encodeWord(bytesToVocabText(utf8.encode(word)));
      if (word.length < CACHED_WORD_LENGTH) {
        if (this.cache.size >= CACHE_SIZE) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodeWord(word: string): number[] {
    const whole = this.pre.ignoreMerges ? this.ids.get(word) : undefined;
    if (whole !== undefined) return [whole];
    const ids: number[] = [];
    const end = this.mergeWord(word);
    for (let start = 0; start < word.length; start = end[start]!) this.pushSymbol(word.slice(start, end[start]), ids);
    return ids;
  }

  /**
   * Merges a word's symbols (one character each at first) in rank order. A symbol is named by the
   * position of its first character and spans to `end[start]`; merging keeps the left one, so the
   * next symbol always starts where one ends. Returns `end` (-1 for positions inside a symbol).
   */
  private mergeWord(word: string): Int32Array {
    const n = word.length;
    const end = Int32Array.from({ length: n }, (_, i) => i + 1);
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const queue = new MergeQueue<BpeCandidate>();
    const consider = (left: number, right: number): void => {
      if (left < 0 || right >= n) return;
      const rank = this.ranks.get(`${word.slice(left, right)} ${word.slice(right, end[right])}`);
      if (rank !== undefined) queue.push({ priority: -rank, left, right, leftEnd: right, rightEnd: end[right]! });
    };
    for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
    for (let c = queue.pop(); c !== undefined; c = queue.pop()) {
      if (end[c.left] !== c.leftEnd || end[c.right] !== c.rightEnd) continue;
      end[c.left] = c.rightEnd;
      end[c.right] = -1;
      if (c.rightEnd < n) prev[c.rightEnd] = c.left;
      consider(prev[c.left]!, c.left);
      consider(c.left, c.rightEnd);
    }
    return end;
  }

  /** A merged symbol's token, or its bytes' tokens when the vocabulary lacks it (as llama.cpp). */
  private pushSymbol(symbol: string, out: number[]): void {
    const id = this.ids.get(symbol);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    for (const byte of vocabTextToBytes(symbol)) {
      const token = this.byteTokens[byte]!;
      if (token < 0) {
        throw new OptionError(`The tokenizer cannot encode this text: it has no token for byte 0x${byte.toString(16).padStart(2, '0')}.`);
      }
      out.push(token);
    }
  }
}
