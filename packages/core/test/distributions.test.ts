import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argmax, klDivergence, logSoftmax, negativeLogLikelihood, spread } from '../src/eval/distributions.js';

const logits = fc.array(fc.float({ min: -30, max: 30, noNaN: true }), { minLength: 2, maxLength: 50 });

describe('distributions', () => {
  it('log-softmax normalises and is shift invariant', () => {
    fc.assert(
      fc.property(logits, fc.float({ min: -100, max: 100, noNaN: true }), (x, shift) => {
        const a = logSoftmax(x);
        const total = a.reduce((s, v) => s + Math.exp(v), 0);
        expect(total).toBeCloseTo(1, 9);
        const b = logSoftmax(x.map((v) => v + shift));
        a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 3));
      }),
    );
  });
  it('KL is zero for identical distributions and positive otherwise', () => {
    expect(klDivergence([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(klDivergence([0, 0], [Math.log(3), 0])).toBeCloseTo(0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25), 12);
    fc.assert(fc.property(logits, logits, (p, q) => klDivergence(p, q.slice(0, p.length).concat(p.slice(q.length))) >= 0));
  });
  it('NLL, argmax and spread', () => {
    expect(negativeLogLikelihood([0, 0], 1)).toBeCloseTo(Math.log(2), 12);
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(spread([1, 2, 3])).toEqual({ mean: 2, std: 1, min: 1, max: 3, n: 3 });
  });
});
