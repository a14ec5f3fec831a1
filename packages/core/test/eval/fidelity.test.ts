import { describe, expect, it } from 'vitest';
import { ContextOverflowError, OptionError, UnknownMethodError, evaluateFidelity } from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText, tokenSegments } from '../../src/node/index.js';
import { stories15m } from '../model/stories15m.js';

const model = stories15m();
const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 2, length: 96 + 8 + 1 });

describe('the fidelity evaluation on stories15M and real text', () => {
  it('reports the full cache as exact and compression as a measurable loss that shrinks with the budget', async () => {
    const progress: number[] = [];
    const report = await evaluateFidelity({
      model,
      segments,
      methods: ['full', 'snapkv', 'ada-snapkv'],
      budgets: [20, 64],
      prefill: 96,
      continuation: 8,
      options: { window: 8 },
      onProgress: (done, total) => progress.push(done / total),
    });
    expect(progress.at(-1)).toBe(1);
    const row = (method: string, budget: number) => report.rows.find((r) => r.method === method && r.budget === budget)!;
    const full = report.rows.find((r) => r.method === 'full')!;
    expect(full.kl.mean).toBe(0);
    expect(full.agreement.mean).toBe(1);
    expect(full.nllDelta.mean).toBe(0);
    expect(full.retainedMass.mean).toBeCloseTo(1, 6);
    expect(full.kvBytes).toBe(full.fullKvBytes);
    for (const method of ['snapkv', 'ada-snapkv']) {
      expect(row(method, 20).kl.mean).toBeGreaterThan(0);
      expect(row(method, 64).kl.mean).toBeLessThan(row(method, 20).kl.mean);
      expect(row(method, 20).kvBytes).toBeLessThan(row(method, 20).fullKvBytes / 4);
      expect(row(method, 20).kl.n).toBe(2);
    }
    expect(row('ada-snapkv', 20).retainedMass.mean).toBeGreaterThan(row('snapkv', 20).retainedMass.mean);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // plain data, ready for --json
  });

  it('refuses settings it cannot honour', async () => {
    const base = { model, segments, methods: ['snapkv'], budgets: [20], prefill: 96, continuation: 8 };
    await expect(evaluateFidelity({ ...base, prefill: 250 })).rejects.toThrow(ContextOverflowError);
    await expect(evaluateFidelity({ ...base, continuation: 30 })).rejects.toThrow(/Segment 0 has 105 tokens/);
    await expect(evaluateFidelity({ ...base, methods: ['nope'] })).rejects.toThrow(UnknownMethodError);
    await expect(evaluateFidelity({ ...base, segments: [] })).rejects.toThrow(OptionError);
  });
});
