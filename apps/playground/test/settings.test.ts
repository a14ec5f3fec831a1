import { describe, expect, it } from 'vitest';
import { EVICT_EVERY, type RawSettings, evictsWhileDecoding, parseBudget, parseKvBytesField, parseSettings, sharedPrefix } from '../src/settings.js';

const raw: RawSettings = { prompt: 'Once upon a time', method: 'ada-snapkv', budget: '48', alpha: '0.2', window: '16', steps: '32', temperature: '0', seed: '42', backend: 'auto', maxCacheTokens: '', kvBytes: '' };

describe('settings', () => {
  it('parses a complete form', () => {
    expect(parseSettings(raw)).toEqual({ prompt: 'Once upon a time', method: 'ada-snapkv', budget: 48, alpha: 0.2, window: 16, steps: 32, temperature: 0, seed: 42, backend: 'auto', maxCacheTokens: null, kvBytes: null, fullPrecisionWindow: false });
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

  it('takes a decode-time cache limit of at least the window plus the eviction pace, or none', () => {
    expect(parseSettings({ ...raw, maxCacheTokens: '32' }).maxCacheTokens).toBe(32);
    expect(parseSettings({ ...raw, maxCacheTokens: '  ' }).maxCacheTokens).toBeNull();
    expect(parseSettings({ ...raw, window: '8', maxCacheTokens: String(8 + EVICT_EVERY) }).maxCacheTokens).toBe(8 + EVICT_EVERY);
    expect(() => parseSettings({ ...raw, maxCacheTokens: String(16 + EVICT_EVERY - 1) })).toThrow(`Max cache tokens per head: empty for no eviction, or a whole number of at least ${16 + EVICT_EVERY} (the window, 16, plus ${EVICT_EVERY})`);
    for (const bad of ['40.5', 'many', '-40']) expect(() => parseSettings({ ...raw, maxCacheTokens: bad })).toThrow(/Max cache tokens per head/);
  });

  it('takes a KV byte budget as bytes or a share of the full cache, not with a decode-time limit', () => {
    expect(parseKvBytesField(' ')).toBeNull();
    expect(parseKvBytesField('1/16')).toEqual({ fraction: 1 / 16 });
    expect(parseKvBytesField('6.25%')).toEqual({ fraction: 0.0625 });
    expect(parseKvBytesField('0.125')).toEqual({ fraction: 0.125 });
    expect(parseKvBytesField('96KiB')).toBe(98304);
    expect(parseKvBytesField('1.5 MiB')).toBe(1572864);
    expect(parseKvBytesField('98304')).toBe(98304);
    for (const bad of ['0', '0/8', 'lots', '-1', '0KiB']) expect(() => parseKvBytesField(bad), bad).toThrow(/^KV bytes: empty for none, or expected bytes \(e\.g\. 786432, 768KiB/);
    expect(parseSettings({ ...raw, kvBytes: '1/8' }).kvBytes).toEqual({ fraction: 0.125 });
    expect(() => parseSettings({ ...raw, kvBytes: '1/8', maxCacheTokens: '32' })).toThrow(/clear “Max cache tokens per head”/);
    // the window in f32: a ticked checkbox, only with KV bytes and a window shorter than a block
    expect(parseSettings({ ...raw, kvBytes: '1/4', window: '15', fullPrecisionWindow: 'on' }).fullPrecisionWindow).toBe(true);
    expect(() => parseSettings({ ...raw, kvBytes: '1/4', fullPrecisionWindow: 'on' })).toThrow(/Window in f32: .* at most 15; it is 16/);
    expect(() => parseSettings({ ...raw, window: '8', fullPrecisionWindow: 'on' })).toThrow(/fill in “KV bytes” too/);
    expect(parseSettings({ ...raw, kvBytes: '1/4', backend: 'reference', fullPrecisionWindow: 'on' }).window).toBe(16);
  });

  it('evicts while decoding only with a limit and a method that scores entries', () => {
    const limited = parseSettings({ ...raw, maxCacheTokens: '32' });
    expect(evictsWhileDecoding(limited)).toBe(true);
    expect(evictsWhileDecoding(parseSettings(raw))).toBe(false);
    expect(evictsWhileDecoding({ ...limited, method: 'full' })).toBe(false);
  });

  it('counts the tokens two answers share before they differ', () => {
    expect(sharedPrefix([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(sharedPrefix([1, 2], [1, 2, 3])).toBe(2);
    expect(sharedPrefix([], [1])).toBe(0);
  });
});
