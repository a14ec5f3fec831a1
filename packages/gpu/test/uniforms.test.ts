import { describe, expect, it } from 'vitest';
import { alignTo } from '../src/index.js';

describe('alignTo', () => {
  it('rounds up to the alignment', () => {
    expect(alignTo(0, 16)).toBe(0);
    expect(alignTo(1, 16)).toBe(16);
    expect(alignTo(16, 16)).toBe(16);
    expect(alignTo(17, 4)).toBe(20);
  });
  it('rejects alignments that are not powers of two', () => {
    expect(() => alignTo(8, 3)).toThrow(RangeError);
  });
});
