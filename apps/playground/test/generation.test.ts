import { type Backend, DEMO_PROMPT, Generator, type Model, ReferenceBackend, WasmBackend, compress, methodNames } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CacheSample, cacheFrame } from '../src/cache-frames.js';
import { type LiveStats, runSideBySide } from '../src/generation.js';
import { EVICT_EVERY, type Settings } from '../src/settings.js';
import { bytePlanText } from '../src/summaries.js';

let model: Model;
beforeAll(async () => {
  model = await loadDefaultModel();
}, 60_000);

// Two sentences (about 50 tokens): long enough that a budget of 24 per head evicts, short enough to be quick.
const PROMPT = DEMO_PROMPT.split('. ').slice(0, 2).join('. ');
const settings: Settings = {
  prompt: PROMPT, method: 'ada-snapkv', budget: 24, alpha: 0.2, window: 16, steps: 8, temperature: 0, seed: 42, backend: 'wasm', maxCacheTokens: null, kvBytes: null, fullPrecisionWindow: false,
};

/** What core gives for one side on its own: the reference the page's interleaved run must match. */
async function alone(s: Settings, compressed: boolean) {
  const options = { window: s.window, alpha: s.alpha };
  return new Generator(model, {
    ...(compressed ? { afterPrefill: ({ store, observations }) => compress(store, observations, { method: s.method, budget: s.budget, options }) } : {}),
  }).generate(s.prompt, { steps: s.steps, temperature: s.temperature, seed: s.seed, topP: 0.9 });
}

describe('the side-by-side run (the page logic, in Node with the real model)', () => {
  it('gives each side exactly the tokens core gives it alone, greedy and sampled, streaming text and stats', async () => {
    const backend = await WasmBackend.create();
    for (const s of [settings, { ...settings, temperature: 0.9, seed: 7 }]) {
      const text = { compressed: '', full: '' };
      const stats: LiveStats[] = [];
      const result = await runSideBySide(model, s, backend, (side, piece) => (text[side] += piece), (live) => stats.push(live));
      const [compressed, full] = [await alone(s, true), await alone(s, false)];
      expect(result.tokens.compressed).toEqual(compressed.tokens);
      expect(result.tokens.full).toEqual(full.tokens);
      expect(text).toEqual({ compressed: compressed.text, full: full.text });
      expect(result.plan?.achievedTotal).toBeLessThan(result.plan!.originalTotal);
      expect(result.observations).toHaveLength(model.config.layers);
      const last = stats.at(-1)!;
      expect(stats.map((x) => x.generated)).toEqual(stats.map((_, i) => i + 1));
      expect(last.compressedBytes).toBeLessThan(last.fullBytes);
      const firstDifference = compressed.tokens.findIndex((t, i) => t !== full.tokens[i]);
      expect(last.agreeing).toBe(firstDifference < 0 ? compressed.tokens.length : firstDifference);
    }
    backend.dispose();
  }, 60_000);

  it('keeps the compressed side within the cache limit while decoding, as core does alone, sampled every few tokens', async () => {
    const limited = { ...settings, steps: 24, maxCacheTokens: 32 };
    const options = { window: limited.window, alpha: limited.alpha };
    const core = new Generator(model, {
      eviction: { method: limited.method, maxTokensPerHead: 32, every: EVICT_EVERY, options },
      afterPrefill: ({ store, observations }) => compress(store, observations, { method: limited.method, budget: limited.budget, options }),
    });
    const expected = await core.generate(limited.prompt, { steps: limited.steps, temperature: 0 });
    const samples: CacheSample[] = [];
    const backend = await WasmBackend.create();
    const result = await runSideBySide(model, limited, backend, () => {}, () => {}, undefined, { every: 4, onSample: (s) => samples.push(s) });
    backend.dispose();
    expect(result.tokens.compressed).toEqual(expected.tokens);
    expect(samples.map((s) => s.step)).toEqual([0, 4, 8, 12, 16, 20, 24]);
    const frames = samples.map((s, i) => cacheFrame(samples[i - 1] ?? null, s));
    for (const frame of frames) for (const mean of frame.layerMeans) expect(mean).toBeLessThanOrEqual(32);
    expect(frames.at(-1)!.evictedSoFar).toBe(core.eviction!.evictedTokens);
    expect(frames.at(-1)!.evictedSoFar).toBeGreaterThan(frames[0]!.evictedSoFar); // it evicted while decoding
    // Samples 4 tokens apart never miss an evicted entry (one that new is inside the protected window),
    // so what the frames count agrees with core's count.
    const seen = frames.slice(1).reduce((sum, f) => sum + f.evictedSinceTotal, 0);
    expect(seen).toBe(frames.at(-1)!.evictedSoFar - frames[0]!.evictedSoFar);
    core.store.dispose();
  }, 60_000);

  it('holds the compressed side to a KV byte budget as core does alone: the plan, its tokens and its bytes', async () => {
    const budgeted: Settings = { ...settings, kvBytes: { fraction: 1 / 8 } };
    const backend = await WasmBackend.create();
    const core = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 8 }, options: { window: budgeted.window, alpha: budgeted.alpha } } });
    const expected = await core.generate(budgeted.prompt, { steps: budgeted.steps, temperature: 0 });
    core.store.dispose();
    const stats: LiveStats[] = [];
    const result = await runSideBySide(model, budgeted, backend, () => {}, (live) => stats.push(live));
    backend.dispose();
    expect(result.tokens.compressed).toEqual(expected.tokens);
    expect(result.bytePlan!.heldBytes).toBeLessThanOrEqual(result.bytePlan!.bytes);
    expect(['int8', 'int4', 'mixed']).toContain(result.bytePlan!.format);
    expect(result.plan).toBe(result.bytePlan!.plan);
    expect(result.observations).toHaveLength(model.config.layers); // the figures draw from them
    // the swapped store, not the f32 one prefill filled: the plan's blocks, plus after the first decoded
    // token each int8/int4 head's f32 residual block for its newest rows
    const residuals = model.config.layers * model.config.kvHeads * 2 * 16 * 48 * 4;
    expect(stats[0]!.compressedBytes).toBeLessThanOrEqual(result.bytePlan!.heldBytes + residuals);
    expect(stats[0]!.compressedBytes).toBeLessThan(stats[0]!.fullBytes / 2);
    expect(bytePlanText(result.bytePlan!)).toMatch(/^Byte plan: (int[48]|int[48] in \d+ heads, .*), (up to \d+ entries per head|[\d.]+ entries per head on average), [\d.]+ KiB held of a [\d.]+ KiB budget \(also considered: f32 does not fit/);
  }, 60_000);

  it('keeps the window in f32 within the KV byte budget when asked, as core does alone', async () => {
    const budgeted: Settings = { ...settings, window: 8, kvBytes: { fraction: 1 / 2 }, fullPrecisionWindow: true };
    const backend = await WasmBackend.create();
    const options = { window: 8, alpha: budgeted.alpha };
    const core = new Generator(model, { backend, kvBytes: { bytes: { fraction: 1 / 2 }, options, fullPrecisionWindow: true } });
    const expected = await core.generate(budgeted.prompt, { steps: budgeted.steps, temperature: 0 });
    core.store.dispose();
    const result = await runSideBySide(model, budgeted, backend, () => {}, () => {});
    backend.dispose();
    expect(result.tokens.compressed).toEqual(expected.tokens);
    expect(result.bytePlan!.windowRows).toBe(8);
    expect(result.bytePlan!.heldBytes).toBeLessThanOrEqual(result.bytePlan!.bytes);
    expect(bytePlanText(result.bytePlan!)).toMatch(/, the 8-token window in f32, /);
  }, 60_000);

  it('compresses nothing for the full method and stops between tokens when aborted', async () => {
    const reference = new ReferenceBackend();
    const full = await runSideBySide(model, { ...settings, method: 'full', steps: 4 }, reference, () => {}, () => {});
    expect(full.plan).toBeNull();
    expect(full.tokens.compressed).toEqual(full.tokens.full);
    const controller = new AbortController();
    let seen = 0;
    const run = runSideBySide(model, settings, reference, () => {}, () => ++seen === 3 && controller.abort(), controller.signal);
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toBe(3);
  }, 60_000);

  it('runs every method of the registry, the value-aware and joint ones included, with and without a cache limit', async () => {
    const backend = await WasmBackend.create();
    for (const method of methodNames.filter((m) => m !== 'full')) {
      for (const maxCacheTokens of [null, 32]) {
        const result = await runSideBySide(model, { ...settings, method, steps: 4, maxCacheTokens }, backend, () => {}, () => {});
        expect(result.plan?.achievedTotal, method).toBeLessThan(result.plan!.originalTotal);
        expect(result.tokens.compressed, method).toHaveLength(4);
      }
    }
    backend.dispose();
  }, 120_000);

  it('refuses a run longer than the context before allocating anything', async () => {
    const untouchable = new Proxy({}, { get: () => { throw new Error('no backend use expected'); } }) as Backend;
    await expect(runSideBySide(model, { ...settings, prompt: DEMO_PROMPT, steps: 200 }, untouchable, () => {}, () => {})).rejects.toThrow(/exceed the model's context of 256/);
  });
});
