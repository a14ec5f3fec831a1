import { describe, expect, it } from 'vitest';
import { BudgetError, ContextOverflowError, OptionError, WasmBackend, evaluateDecodeEviction } from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { tokenSegments } from '../../src/node/index.js';
import { stories15m } from '../model/stories15m.js';

const model = stories15m();
const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 2, length: 32 + 40 + 1 });
const settings = { model, segments, prefill: 32, continuation: 40, every: 8, options: { window: 8 } } as const;

describe('the decode-time eviction evaluation on stories15M and real text', { timeout: 120_000 }, () => {
  it('holds every method to its cache limit while decoding and measures what that costs', async () => {
    const backend = await WasmBackend.create();
    const progress: string[] = [];
    const report = await evaluateDecodeEviction({
      ...settings,
      methods: ['kvcompress', 'snapkv', 'h2o', 'random'],
      limits: [24, 48],
      backend,
      onProgress: (done, total, label) => progress.push(`${done}/${total} ${label}`),
    }).finally(() => backend.dispose());
    expect(progress).toHaveLength(2 * (1 + 4 * 2));
    expect(progress.at(-1)).toMatch(/^18\/18 segment 2: random @ 48$/);
    expect(report.rows).toHaveLength(8);
    for (const row of report.rows) {
      expect(row.meanCacheTokens.mean, row.method).toBeLessThanOrEqual(row.limit);
      expect(row.evictedPerStep.mean, row.method).toBeGreaterThan(0);
      expect(row.kl.mean, row.method).toBeGreaterThan(0);
      expect(row.agreement.mean).toBeGreaterThan(0);
      expect(row.agreement.mean).toBeLessThanOrEqual(1);
    }
    // a tighter limit costs more, for every method
    for (const method of ['kvcompress', 'snapkv', 'h2o', 'random']) {
      const [tight, loose] = [24, 48].map((limit) => report.rows.find((r) => r.method === method && r.limit === limit)!);
      expect(tight!.kl.mean, method).toBeGreaterThan(loose!.kl.mean);
      expect(tight!.meanCacheTokens.mean).toBeLessThan(loose!.meanCacheTokens.mean);
    }
    // a joint method compresses the whole sequence at once: fewer compressions than per-layer eviction
    const at = (method: string) => report.rows.find((r) => r.method === method && r.limit === 24)!;
    expect(at('kvcompress').evictionsPerStep.mean).toBeLessThan(at('snapkv').evictionsPerStep.mean);
  });

  it('refuses what it cannot measure, before running anything', async () => {
    await expect(evaluateDecodeEviction({ ...settings, methods: ['full'] })).rejects.toThrow(OptionError);
    await expect(evaluateDecodeEviction({ ...settings, methods: ['snapkv'], limits: [12] })).rejects.toThrow(BudgetError);
    await expect(evaluateDecodeEviction({ ...settings, methods: ['snapkv'], continuation: 400 })).rejects.toThrow(ContextOverflowError);
    await expect(evaluateDecodeEviction({ ...settings, methods: ['snapkv'], prefill: 40 })).rejects.toThrow(/Segment 0 has 73 tokens/);
  });
});
