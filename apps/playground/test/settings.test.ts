import { describe, expect, it } from 'vitest';
import { type RawSettings, parseBudget, parseSettings, sharedPrefix } from '../src/settings.js';

const raw: RawSettings = { prompt: 'Once upon a time', method: 'ada-snapkv', budget: '48', alpha: '0.2', window: '16', steps: '32', temperature: '0', seed: '42', backend: 'auto' };

describe('settings', () => {
  it('parses a complete form', () => {
    expect(parseSettings(raw)).toEqual({ prompt: 'Once upon a time', method: 'ada-snapkv', budget: 48, alpha: 0.2, window: 16, steps: 32, temperature: 0, seed: 42, backend: 'auto' });
  });

  it('takes budgets as tokens or shares of the prompt', () => {
    expect(parseBudget('64')).toBe(64);
    expect(parseBudget('25%')).toEqual({ ratio: 0.25 });
    expect(parseBudget('0.5')).toEqual({ ratio: 0.5 });
    for (const bad of ['0', '-3', '1.5', '150%', 'lots']) expect(() => parseBudget(bad)).toThrow(/Budget/);
  });

  it('names the field that is wrong', () => {
    expect(() => parseSettings({ ...raw, prompt: '  ' })).toThrow(/Prompt/);
    expect(() => parseSettings({ ...raw, method: 'nope' })).toThrow(/Method: one of full/);
    expect(() => parseSettings({ ...raw, alpha: '2' })).toThrow(/Alpha/);
    expect(() => parseSettings({ ...raw, window: '0' })).toThrow(/Window/);
    expect(() => parseSettings({ ...raw, steps: '1000' })).toThrow(/Tokens to generate/);
    expect(() => parseSettings({ ...raw, backend: 'cuda' })).toThrow(/Backend/);
    expect(() => parseSettings({ ...raw, temperature: '-1' })).toThrow(/Temperature/);
    expect(() => parseSettings({ ...raw, temperature: 'hot' })).toThrow(/Temperature/);
    expect(() => parseSettings({ ...raw, seed: '1.5' })).toThrow(/Seed/);
  });

  it('counts the tokens two answers share before they differ', () => {
    expect(sharedPrefix([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(sharedPrefix([1, 2], [1, 2, 3])).toBe(2);
    expect(sharedPrefix([], [1])).toBe(0);
  });
});
