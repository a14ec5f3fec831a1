import type { DecodeOptions, TextTokenizer } from './types.js';

/**
 * Turns generated tokens into text as they arrive, holding back incomplete UTF-8 sequences (a
 * character split over byte tokens, or over byte-level BPE tokens, appears once complete).
 */
export class TokenTextStream {
  private previous: number;
  private readonly special: boolean;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly tokenizer: TextTokenizer, previous = -1, options: DecodeOptions = {}) {
    this.previous = previous;
    this.special = options.special ?? false;
  }

  /** The text `token` adds (empty while a character is incomplete). */
  push(token: number): string {
    const bytes = this.tokenizer.decodePiece(this.previous, token, this.special);
    this.previous = token;
    return this.decoder.decode(bytes, { stream: true });
  }

  /** What is left held back (an incomplete character, as replacement characters). */
  flush(): string {
    return this.decoder.decode();
  }
}

/** The text of `tokens` through a fresh stream. */
export function decodeTokens(tokenizer: TextTokenizer, tokens: readonly number[], options: DecodeOptions = {}): string {
  const stream = new TokenTextStream(tokenizer, -1, options);
  let text = '';
  for (const token of tokens) text += stream.push(token);
  return text + stream.flush();
}
