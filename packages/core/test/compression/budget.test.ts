import { describe, expect, it } from 'vitest';
import { BudgetError, resolveBudget } from '../../src/index.js';

describe('resolveBudget', () => {
  it('takes tokens per head as a number or an object, and a ratio of the prompt', () => {
    expect(resolveBudget(48, 192)).toBe(48);
    expect(resolveBudget({ tokensPerHead: 20 }, 192)).toBe(20);
    expect(resolveBudget({ ratio: 0.25 }, 192)).toBe(48);
    expect(resolveBudget({ ratio: 0.001 }, 192)).toBe(1);
    expect(resolveBudget({ ratio: 1 }, 7)).toBe(7);
  });

  it.each([0, -3, 1.5, Number.NaN, Infinity, { tokensPerHead: 0 }, { ratio: 0 }, { ratio: 1.5 }, { ratio: Number.NaN }, {}, 'x'])(
    'refuses %j with a BudgetError',
    (spec) => {
      expect(() => resolveBudget(spec as never, 100)).toThrow(BudgetError);
    },
  );

  it('points a byte budget to kvBytes: bytes choose the format too', () => {
    expect(() => resolveBudget({ bytes: 65536 } as never, 100)).toThrow(/a byte budget \(\{ bytes \}\) chooses the storage format too.*kvBytes/);
  });
});
