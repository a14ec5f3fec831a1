import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompletionRequest,
  ContextOverflowError,
  Generator,
  type Model,
  OptionError,
  PagedPool,
  PoolExhaustedError,
  Scheduler,
  UnknownMethodError,
  loadLlama2cModel,
} from '../../src/index.js';
import { randomCheckpoint } from '../model/random-model.js';
import { stories15m } from '../model/stories15m.js';

const tiny = loadLlama2cModel(
  randomCheckpoint({ dim: 32, hiddenDim: 48, layers: 2, heads: 4, kvHeads: 2, vocab: 50, contextLength: 128 }, 5),
);

async function runAlone(model: Model, request: CompletionRequest) {
  const pool = await PagedPool.create({ headDim: model.config.headDim, blockSize: 4, poolBlocks: 4096 });
  const scheduler = new Scheduler(model, pool, { evictEvery: 4 });
  const result = await scheduler.submit(request).result;
  await scheduler.close();
  expect(pool.stats().usedBlocks).toBe(0);
  pool.dispose();
  return result;
}

describe('Scheduler', () => {
  it('gives a lone greedy full-cache request exactly what Generator gives (stories15M)', async () => {
    const model = stories15m();
    const expected = await new Generator(model).generate('Once upon a time', { steps: 12 });
    const result = await runAlone(model, { prompt: 'Once upon a time', maxTokens: 12, method: 'full' });
    expect(result.tokens).toEqual(expected.tokens);
    expect(result.text).toBe(expected.text);
    expect(result.finishReason).toBe('length');
  });

  it('gives each sequence the same tokens alone or among others, with continual compression', async () => {
    const requests: CompletionRequest[] = [
      { prompt: Array.from({ length: 30 }, (_, i) => (i * 7) % 50), maxTokens: 40, maxCacheTokens: 20, protectedWindow: 4 },
      { prompt: [1, 2, 3], maxTokens: 25, compressionRatio: 2, protectedWindow: 4, method: 'snapkv' },
      { prompt: Array.from({ length: 50 }, (_, i) => (i * 3) % 50), maxTokens: 30, method: 'full' },
      { prompt: [5, 6], maxTokens: 20, temperature: 0.8, seed: 7, maxCacheTokens: 12, protectedWindow: 4, method: 'h2o' },
    ];
    const alone = [];
    for (const request of requests) alone.push(await runAlone(tiny, request));
    const pool = await PagedPool.create({ headDim: tiny.config.headDim, blockSize: 4, poolBlocks: 4096 });
    const scheduler = new Scheduler(tiny, pool, { evictEvery: 4, maxBatch: 3 });
    const together = await Promise.all(requests.map((r) => scheduler.submit(r).result));
    expect(together.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens));
    expect(together[0]!.evictedTokens).toBeGreaterThan(0);
    expect(pool.stats().usedBlocks).toBe(0);
    pool.check();
    pool.dispose();
  });

  it('keeps the pool consistent under random arrivals, cancellations and a small pool', async () => {
    let preemptions = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 12 }),
            promptLength: fc.integer({ min: 1, max: 40 }),
            maxTokens: fc.integer({ min: 1, max: 60 }),
            limit: fc.option(fc.integer({ min: 8, max: 24 }), { nil: undefined }),
            cancelAt: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.integer({ min: 40, max: 160 }),
        fc.constantFrom('reserve', 'optimistic'),
        async (arrivals, poolBlocks, admission) => {
          const pool = await PagedPool.create({ headDim: tiny.config.headDim, blockSize: 4, poolBlocks });
          const scheduler = new Scheduler(tiny, pool, { evictEvery: 4, maxBatch: 4, autoRun: false, admission });
          const handles: { promise: Promise<unknown>; cancel: () => void; cancelAt?: number }[] = [];
          const outcomes: string[] = [];
          for (let step = 0; step < 400; step++) {
            arrivals.forEach((a, i) => {
              if (a.at !== step) return;
              const handle = scheduler.submit({
                prompt: Array.from({ length: a.promptLength }, (_, t) => (t * 11 + i) % 50),
                maxTokens: a.maxTokens,
                ...(a.limit ? { maxCacheTokens: a.limit, protectedWindow: 4 } : { method: 'full' }),
              });
              const promise = handle.result.then(
                (r) => outcomes.push(r.finishReason),
                (e: unknown) => outcomes.push(e instanceof PoolExhaustedError ? 'too-big' : `unexpected ${String(e)}`),
              );
              handles.push({ promise, cancel: handle.cancel, ...(a.cancelAt === undefined ? {} : { cancelAt: a.cancelAt + step }) });
            });
            for (const h of handles) if (h.cancelAt === step) h.cancel();
            await scheduler.step();
            pool.check();
            const stats = pool.stats();
            expect(stats.usedBlocks + stats.freeBlocks).toBe(stats.totalBlocks);
            if (step > 12 && scheduler.runningCount === 0 && scheduler.queuedCount === 0) break;
          }
          await Promise.all(handles.map((h) => h.promise));
          expect(outcomes).toHaveLength(arrivals.length);
          preemptions += scheduler.totals.preemptions;
          expect(outcomes.every((o) => ['length', 'stop', 'cancelled', 'too-big'].includes(o))).toBe(true);
          expect(pool.stats().usedBlocks).toBe(0);
          pool.dispose();
        },
      ),
      { numRuns: 25, seed: 5 },
    );
    expect(preemptions).toBeGreaterThan(0); // the runs did put the pool under pressure
  });

  it('preempts under pressure and still completes every request with all its tokens', async () => {
    const pool = await PagedPool.create({ headDim: tiny.config.headDim, blockSize: 4, poolBlocks: 100 });
    const scheduler = new Scheduler(tiny, pool, { evictEvery: 4, maxBatch: 4, admission: 'optimistic' });
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => scheduler.submit({ prompt: [1, i + 2, i + 3], maxTokens: 60, method: 'full' }).result),
    );
    expect(results.map((r) => r.tokens.length)).toEqual([60, 60, 60, 60]);
    expect(scheduler.totals.preemptions).toBeGreaterThan(0);
    const alone = await runAlone(tiny, { prompt: [1, 2, 3], maxTokens: 60, method: 'full' });
    expect(results[0]!.tokens).toEqual(alone.tokens); // a preempted full-cache sequence resumes exactly
    expect(pool.stats().usedBlocks).toBe(0);
    pool.dispose();
  });

  it('refuses bad requests with typed errors', async () => {
    const pool = await PagedPool.create({ headDim: tiny.config.headDim, poolBlocks: 64 });
    const scheduler = new Scheduler(tiny, pool, { autoRun: false });
    expect(() => scheduler.submit({ prompt: [1], maxTokens: 500 })).toThrow(ContextOverflowError);
    expect(() => scheduler.submit({ prompt: [1], method: 'nope' })).toThrow(UnknownMethodError);
    expect(() => scheduler.submit({ prompt: [], maxTokens: 4 })).toThrow(OptionError);
    expect(() => scheduler.submit({ prompt: [1, 999] })).toThrow(OptionError);
    expect(() => scheduler.submit({ prompt: [1], maxCacheTokens: 8, compressionRatio: 2 })).toThrow(OptionError);
    expect(() => scheduler.submit({ prompt: [1], compressionRatio: 0.5 })).toThrow(OptionError);
    expect(() => scheduler.submit({ prompt: [1], maxCacheTokens: 10 })).toThrow(/protectedWindow \+ evictEvery/);
    expect(() => scheduler.submit({ prompt: [1], temperature: -1 })).toThrow(OptionError);
    await scheduler.close();
    expect(() => scheduler.submit({ prompt: [1] })).toThrow(/closed/);
    pool.dispose();
  });
});
