import { describe, expect, it } from 'vitest';
import { BudgetError, ContextOverflowError, type MethodName, OptionError, UnknownMethodError, WasmBackend, evaluateFidelity } from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { tokenSegments } from '../../src/node/index.js';
import { stories15m } from '../model/stories15m.js';

const model = stories15m();
const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 2, length: 96 + 8 + 1 });

describe('the fidelity evaluation on stories15M and real text', { timeout: 60_000 }, () => {
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

  it('gives the same figures on the wasm backend, and one row for budgets that name the same size', async () => {
    const settings = { model, segments: segments.slice(0, 1), methods: ['ada-snapkv'] as MethodName[], prefill: 96, continuation: 4, options: { window: 8 } };
    const reference = await evaluateFidelity({ ...settings, budgets: [24] });
    const backend = await WasmBackend.create();
    const paged = await evaluateFidelity({ ...settings, budgets: [24, { ratio: 0.25 }], backend });
    backend.dispose();
    expect(paged.rows).toHaveLength(1);
    expect(paged.rows[0]!.kl.n).toBe(1);
    expect(paged.rows[0]!.kl.mean).toBeCloseTo(reference.rows[0]!.kl.mean, 5);
    expect(paged.rows[0]!.agreement.mean).toBe(reference.rows[0]!.agreement.mean);
    expect(paged.settings.options).toEqual({ window: 8 });
  });

  it('refuses settings it cannot honour before any work, and stops when aborted', async () => {
    let worked = false;
    const base = { model, segments, methods: ['snapkv'] as MethodName[], budgets: [20], prefill: 96, continuation: 8, onProgress: () => (worked = true) };
    await expect(evaluateFidelity({ ...base, prefill: 250 })).rejects.toThrow(ContextOverflowError);
    await expect(evaluateFidelity({ ...base, continuation: 30 })).rejects.toThrow(/Segment 0 has 105 tokens/);
    await expect(evaluateFidelity({ ...base, methods: ['nope' as MethodName] })).rejects.toThrow(UnknownMethodError);
    await expect(evaluateFidelity({ ...base, segments: [] })).rejects.toThrow(OptionError);
    await expect(evaluateFidelity({ ...base, budgets: [] })).rejects.toThrow(OptionError);
    await expect(evaluateFidelity({ ...base, budgets: [0] })).rejects.toThrow(BudgetError);
    await expect(evaluateFidelity({ ...base, budgets: [12] })).rejects.toThrow(/cannot hold the observation window of 16/);
    await expect(evaluateFidelity({ ...base, options: { window: 120 } })).rejects.toThrow(/not shorter than the prefill/);
    // a window as long as the prefill would make every plan a skipped one: refused up front too
    await expect(evaluateFidelity({ ...base, budgets: [96], options: { window: 96 } })).rejects.toThrow(/window \(96 tokens\) is not shorter than the prefill \(96 tokens\)/);
    await expect(evaluateFidelity({ ...base, options: { alpha: 2 } })).rejects.toThrow(OptionError);
    expect(worked).toBe(false);

    const controller = new AbortController();
    const run = evaluateFidelity({ ...base, signal: controller.signal, onProgress: () => controller.abort() });
    await expect(run).rejects.toThrow(/abort/i);
  });
});
