import { describe, expect, it } from 'vitest';
import { groupSize, ShapeError, validateGeometry } from '../src/index.js';

describe('validateGeometry', () => {
  it('accepts GQA geometries and reports the group size', () => {
    const g = validateGeometry({ layers: 2, queryHeads: 8, kvHeads: 2, headDim: 16 });
    expect(groupSize(g)).toBe(4);
  });
  it('rejects query heads that are not a multiple of KV heads', () => {
    expect(() => validateGeometry({ layers: 1, queryHeads: 6, kvHeads: 4, headDim: 8 })).toThrow(ShapeError);
  });
  it('rejects non-positive or fractional sizes', () => {
    expect(() => validateGeometry({ layers: 0, queryHeads: 1, kvHeads: 1, headDim: 8 })).toThrow(/layers/);
    expect(() => validateGeometry({ layers: 1, queryHeads: 1, kvHeads: 1, headDim: 1.5 })).toThrow(/headDim/);
  });
});
