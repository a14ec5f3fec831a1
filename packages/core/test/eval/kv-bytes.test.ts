import { describe, expect, it } from 'vitest';
import { OptionError, ReferenceBackend, WasmBackend, evaluateKvBytes } from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { tokenSegments } from '../../src/node/index.js';
import { stories15m } from '../model/stories15m.js';

const model = stories15m();
const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 1, length: 64 + 8 + 1 });
const settings = { model, segments, prefill: 64, continuation: 8, options: { window: 8 }, fractions: [1 / 2, 1 / 8] } as const;

describe('evaluateKvBytes on stories15M', { timeout: 120_000 }, () => {
  it('holds every strategy to its byte budget, says which do not fit, and joint predicts no worse than any', async () => {
    const backend = await WasmBackend.create();
    const progress: string[] = [];
    const report = await evaluateKvBytes({ ...settings, backend, onProgress: (done, total, label) => progress.push(`${done}/${total} ${label}`) }).finally(() =>
      backend.dispose(),
    );
    expect(progress).toHaveLength(1 + 2 * 5);
    expect(report.settings.fullKvBytes).toBe(6 * 6 * 64 * 48 * 8);
    expect(report.settings).toMatchObject({ method: 'kvcompress', evictionMethod: 'ada-snapkv' }); // the eviction baseline against the byte planner's own
    const row = (strategy: string, fraction: number) => report.rows.find((r) => r.strategy === strategy && r.fraction === fraction)!;
    // 1/8 of the f32 cache is 3072 bytes per head: less than one f32 block of 16 rows, less than every entry in int8 or int4
    for (const strategy of ['eviction', 'int8', 'int4']) {
      expect(row(strategy, 1 / 8).fits, strategy).toBe(false);
      expect(row(strategy, 1 / 8).reason).toBeTruthy();
      expect(row(strategy, 1 / 8).kl.n).toBe(0);
    }
    for (const r of report.rows.filter((x) => x.fits)) {
      expect(r.kvBytes.max, `${r.strategy} @ ${r.fraction}`).toBeLessThanOrEqual(r.budgetBytes);
      expect(r.kvBytesAfterDecode.max).toBeGreaterThanOrEqual(r.kvBytes.max);
      expect(r.kl.mean).toBeGreaterThanOrEqual(0);
      expect(r.agreement.mean).toBeGreaterThan(0);
      expect(r.agreement.mean).toBeLessThanOrEqual(1);
    }
    expect(row('joint', 1 / 8).fits).toBe(true);
    expect(row('int8', 1 / 2).formats).toEqual({ int8: 1 });
    expect(row('int8', 1 / 2).tokensPerHead.mean).toBe(64);
    expect(row('eviction', 1 / 2).tokensPerHead.mean).toBeLessThan(64);
    // joint's candidates include eviction in f32 and every entry quantized: its predicted error is at most theirs
    const half = ['eviction', 'int8', 'int4'].map((s) => row(s, 1 / 2).attentionL1.mean);
    expect(row('joint', 1 / 2).attentionL1.mean).toBeLessThanOrEqual(Math.min(...half));
    // a format per head chooses among joint's candidates' heads: its predicted error is at most joint's
    for (const fraction of [1 / 2, 1 / 8]) expect(row('mixed', fraction).attentionL1.mean).toBeLessThanOrEqual(row('joint', fraction).attentionL1.mean);
    // more bytes, more fidelity
    expect(row('joint', 1 / 2).kl.mean).toBeLessThan(row('joint', 1 / 8).kl.mean);
  });

  it('refuses what it cannot measure, before running anything', async () => {
    const backend = await WasmBackend.create();
    try {
      await expect(evaluateKvBytes({ ...settings, backend, fractions: [0] })).rejects.toThrow(OptionError);
      await expect(evaluateKvBytes({ ...settings, backend, strategies: [] })).rejects.toThrow(OptionError);
      await expect(evaluateKvBytes({ ...settings, backend, prefill: 80 })).rejects.toThrow(/Segment 0 has 73 tokens/);
    } finally {
      backend.dispose();
    }
    await expect(evaluateKvBytes({ ...settings, backend: new ReferenceBackend() })).rejects.toThrow(/int8/);
    await expect(evaluateKvBytes({ ...settings, backend: new ReferenceBackend(), strategies: ['eviction', 'mixed'] })).rejects.toThrow(/mixed strategy needs stores with a format per layer and KV head/);
  });
});
