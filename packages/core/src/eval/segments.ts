import { OptionError } from '../errors.js';
import type { TextTokenizer } from '../model/tokenizers/types.js';

/** Paragraphs of a plain-text book: blank-line separated, hard line wraps joined, headings dropped. */
export function paragraphs(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p.length >= 80); // short blocks are titles and chapter numbers, not story text
}

/** How {@link tokenSegments} cuts a text. */
export interface SegmentOptions {
  /** Segments wanted. */
  count: number;
  /** Tokens per segment, BOS included. */
  length: number;
}

/**
 * Evenly spaced, non-overlapping token windows of a text, each starting with BOS: the real inputs
 * of the fidelity evaluation. Paragraphs are tokenized one by one (BPE cost grows with length) and
 * joined with newlines, so a window may span paragraphs as running text does.
 */
export function tokenSegments(tokenizer: TextTokenizer, text: string, { count, length }: SegmentOptions): number[][] {
  if (!Number.isInteger(count) || count < 1) throw new OptionError(`segments must be a whole number >= 1, got ${count}.`);
  if (!Number.isInteger(length) || length < 2) throw new OptionError(`segment length must be >= 2 tokens, got ${length}.`);
  const newline = tokenizer.encode('\n', { bos: false, dummyPrefix: false });
  const stream: number[] = [];
  const needed = count * (length - 1);
  for (const paragraph of paragraphs(text)) {
    if (stream.length > 0) stream.push(...newline);
    stream.push(...tokenizer.encode(paragraph, { bos: false }));
    if (stream.length >= needed * 4) break; // enough text to spread the windows out
  }
  if (stream.length < needed) {
    throw new OptionError(
      `The text gives ${stream.length} tokens, fewer than ${count} segments x ${length - 1} tokens; ` +
        'use fewer or shorter segments, or a longer text.',
    );
  }
  const stride = Math.floor((stream.length - (length - 1)) / Math.max(1, count - 1));
  return Array.from({ length: count }, (_, i) => {
    const start = count === 1 ? 0 : Math.min(i * stride, stream.length - (length - 1));
    return [tokenizer.bosToken, ...stream.slice(start, start + length - 1)];
  });
}
