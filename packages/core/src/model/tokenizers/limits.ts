import { ContextOverflowError, OptionError } from '../../errors.js';
import type { EncodeOptions, TextTokenizer } from './types.js';

/**
 * Refuses text that cannot fit `options.maxTokens` from its lower bound alone, before any merging, so
 * an over-long prompt costs one pass over its characters.
 */
export function refuseOverLongText(tokenizer: TextTokenizer, text: string, options: EncodeOptions): void {
  const { maxTokens } = options;
  if (maxTokens === undefined) return;
  if (!(maxTokens >= 0)) throw new OptionError(`maxTokens must be a number >= 0, not ${maxTokens}.`);
  const bound = tokenizer.minTokens(text, options);
  if (bound > maxTokens) {
    throw new ContextOverflowError(
      `The text (${text.length} characters) needs at least ${bound} tokens, more than the limit of ${maxTokens}. Shorten the prompt.`,
    );
  }
}

/** Refuses an encoding longer than `maxTokens`, with its exact count. */
export function refuseOverLongTokens(text: string, tokens: readonly number[], maxTokens: number | undefined): void {
  if (maxTokens !== undefined && tokens.length > maxTokens) {
    throw new ContextOverflowError(
      `The text (${text.length} characters) is ${tokens.length} tokens, more than the limit of ${maxTokens}. Shorten the prompt.`,
    );
  }
}

/** The lower bound both tokenizers give: every token stands for at most `maxPieceBytes` bytes, plus BOS/EOS. */
export function tokenLowerBound(bytes: number, maxPieceBytes: number, bos: boolean, eos: boolean): number {
  return Math.ceil(bytes / maxPieceBytes) + (bos ? 1 : 0) + (eos ? 1 : 0);
}
