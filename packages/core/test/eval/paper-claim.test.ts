import { describe, expect, it } from 'vitest';
import { WasmBackend, evaluateFidelity } from '../../src/index.js';
import { DEFAULT_CORPUS, gutenbergText } from '../../scripts/gutenberg.mjs';
import { tokenSegments } from '../../src/node/index.js';
import { stories15m } from '../model/stories15m.js';

describe("the paper's claim on stories15M and children's stories", () => {
  it(
    'Ada-SnapKV diverges less than SnapKV, and SnapKV less than StreamingLLM, at 32 and 64 tokens per head',
    async () => {
      const model = stories15m();
      const prefill = 192;
      const continuation = 32;
      const segments = tokenSegments(model.tokenizer!, gutenbergText(DEFAULT_CORPUS[0]), { count: 10, length: prefill + continuation + 1 });
      const backend = await WasmBackend.create();
      const report = await evaluateFidelity({
        model,
        segments,
        methods: ['streamingllm', 'snapkv', 'ada-snapkv'],
        budgets: [32, 64],
        prefill,
        continuation,
        options: { window: 16, kernelSize: 7, alpha: 0.2 },
        backend,
      });
      backend.dispose();
      const kl = (method: string, budget: number) => report.rows.find((r) => r.method === method && r.budget === budget)!;
      for (const budget of [32, 64]) {
        expect(kl('ada-snapkv', budget).kl.mean).toBeLessThan(kl('snapkv', budget).kl.mean);
        expect(kl('snapkv', budget).kl.mean).toBeLessThan(kl('streamingllm', budget).kl.mean);
        // at equal bytes: Ada never keeps more than the uniform split
        expect(kl('ada-snapkv', budget).kvBytes).toBeLessThanOrEqual(kl('snapkv', budget).kvBytes);
        expect(kl('snapkv', budget).kvBytes).toBe(kl('streamingllm', budget).kvBytes);
      }
    },
    600_000,
  );
});
