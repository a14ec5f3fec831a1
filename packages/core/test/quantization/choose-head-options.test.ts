import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HeadOption, chooseHeadOptions } from '../../src/quantization/choose-head-options.js';

const option = fc.record({ bytes: fc.integer({ min: 0, max: 40 }), error: fc.double({ min: 0, max: 5, noNaN: true }) });
const heads = fc.array(fc.array(option, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 7 });

const total = (list: readonly (readonly HeadOption[])[], choice: readonly number[], field: keyof HeadOption) =>
  choice.reduce((sum, o, h) => sum + list[h]![o]![field], 0);

/** Every choice, for the exact optimum of small cases. */
function* everyChoice(list: readonly (readonly HeadOption[])[], prefix: number[] = []): Generator<number[]> {
  if (prefix.length === list.length) {
    yield prefix;
    return;
  }
  for (let o = 0; o < list[prefix.length]!.length; o++) yield* everyChoice(list, [...prefix, o]);
}

describe('chooseHeadOptions (one option per head within a byte budget)', () => {
  it('stays within the budget, fails only when the cheapest options do not fit, and no single switch that fits lowers the error', () => {
    fc.assert(
      fc.property(heads, fc.integer({ min: 0, max: 200 }), (list, budget) => {
        const cheapest = list.reduce((sum, options) => sum + Math.min(...options.map((o) => o.bytes)), 0);
        const choice = chooseHeadOptions(list, budget);
        if (cheapest > budget) {
          expect(choice).toBeUndefined();
          return;
        }
        expect(choice).toBeDefined();
        const bytes = total(list, choice!, 'bytes');
        expect(bytes).toBeLessThanOrEqual(budget);
        list.forEach((options, h) => {
          const current = options[choice![h]!]!;
          for (const other of options) {
            if (other.bytes - current.bytes <= budget - bytes) expect(other.error).toBeGreaterThanOrEqual(current.error);
          }
        });
        expect(chooseHeadOptions(list, budget)).toEqual(choice); // deterministic
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  it('finds the exact optimum where the options are evenly priced, and comes close to it elsewhere', () => {
    // two formats at the same entries: half the bytes for twice the error; the budget buys exactly 2 upgrades
    const list = [0.5, 0.1, 0.9, 0.3].map((e) => [{ bytes: 20, error: e }, { bytes: 10, error: 2 * e }]);
    const choice = chooseHeadOptions(list, 60)!;
    expect(choice).toEqual([0, 1, 0, 1]); // the heads that lose the most (0.9, 0.5) keep the finer option
    fc.assert(
      fc.property(fc.array(fc.array(option, { minLength: 2, maxLength: 3 }), { minLength: 2, maxLength: 5 }), fc.integer({ min: 0, max: 120 }), (list, budget) => {
        const found = chooseHeadOptions(list, budget);
        let best = Infinity;
        for (const c of everyChoice(list)) if (total(list, c, 'bytes') <= budget) best = Math.min(best, total(list, c, 'error'));
        if (best === Infinity) {
          expect(found).toBeUndefined();
          return;
        }
        const error = total(list, found!, 'error');
        // never worse than the optimum by more than the largest single head's spread of errors
        const spread = Math.max(...list.map((o) => Math.max(...o.map((x) => x.error)) - Math.min(...o.map((x) => x.error))));
        expect(error).toBeLessThanOrEqual(best + spread + 1e-9);
      }),
      { numRuns: 300, seed: 9 },
    );
  });
});
