import { describe, expect, it } from 'vitest';
import { OptionError, parseByteFraction, parseKvBytes } from '../../src/index.js';

describe('parseKvBytes / parseByteFraction', () => {
  it('reads bytes with or without a unit, and shares of the full cache as ratios, decimals or percents', () => {
    expect(parseKvBytes('786432')).toBe(786432);
    expect(parseKvBytes('768KiB')).toBe(786432);
    expect(parseKvBytes(' 1.5 mib ')).toBe(1572864);
    expect(parseKvBytes('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseKvBytes('1/16')).toEqual({ fraction: 1 / 16 });
    expect(parseKvBytes('6.25%')).toEqual({ fraction: 0.0625 });
    expect(parseKvBytes('0.125')).toEqual({ fraction: 0.125 });
    expect(parseKvBytes('1')).toEqual({ fraction: 1 }); // a plain number above 1 is bytes; 1 is the whole cache
    expect(parseByteFraction('3/2')).toBe(1.5);
  });

  it('refuses what is neither, with an OptionError naming both forms', () => {
    for (const bad of ['', 'lots', '-1', '0', '0/8', '1/0', '0KiB', '0.4B', '12 KB']) {
      expect(() => parseKvBytes(bad), bad).toThrow(OptionError);
      expect(() => parseKvBytes(bad), bad).toThrow(/expected bytes \(e\.g\. 786432, 768KiB, 1\.5MiB\) or a fraction of the full f32 cache/);
    }
    expect(() => parseByteFraction('0')).toThrow(/expected a positive fraction of the full f32 cache/);
  });
});
