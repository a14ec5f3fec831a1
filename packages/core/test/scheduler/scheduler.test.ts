import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CompletionRequest,
  ContextOverflowError,
  Generator,
  InvalidNumberError,
  type Model,
  OptionError,
  type Backend,
  type BackendName,
  createBackend,
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

async function runAlone(backend: Backend, model: Model, request: CompletionRequest) {
  const scheduler = new Scheduler(model, backend, { blockSize: 4, poolBlocks: 4096, evictEvery: 4 });
  const pool = scheduler.pool;
  const result = await scheduler.submit(request).result;
  await scheduler.close();
  expect(pool.stats().usedBlocks).toBe(0);
  pool.dispose();
  return result;
}

// Every test runs on each backend with paged storage (WebGPU on SwiftShader in CI).
describe.each<BackendName>(['wasm', 'webgpu'])('on the %s backend', (backendName) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await createBackend(backendName);
  });
  afterAll(() => backend.dispose());

  describe('Scheduler', () => {
    it('gives a lone greedy full-cache request exactly what Generator gives (stories15M)', async () => {
      const model = stories15m();
      const expected = await new Generator(model).generate('Once upon a time', { steps: 12 });
      const result = await runAlone(backend, model, { prompt: 'Once upon a time', maxTokens: 12, method: 'full' });
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
        // joint eviction in whole blocks of the pool, and the value-aware scorer (W_o from the model)
        { prompt: Array.from({ length: 24 }, (_, i) => (i * 5) % 50), maxTokens: 30, maxCacheTokens: 16, protectedWindow: 4, method: 'kvcompress' },
        { prompt: Array.from({ length: 24 }, (_, i) => (i * 9) % 50), maxTokens: 30, maxCacheTokens: 16, protectedWindow: 4, method: 'ada-criti-snapkv' },
      ];
      const alone = [];
      for (const request of requests) alone.push(await runAlone(backend, tiny, request));
      const scheduler = new Scheduler(tiny, backend, { blockSize: 4, poolBlocks: 4096, evictEvery: 4, maxBatch: 3 });
      const pool = scheduler.pool;
      const together = await Promise.all(requests.map((r) => scheduler.submit(r).result));
      expect(together.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens));
      expect(together[0]!.evictedTokens).toBeGreaterThan(0);
      expect(together[4]!.evictedTokens).toBeGreaterThan(0);
      expect(together[5]!.evictedTokens).toBeGreaterThan(0);
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
            const scheduler = new Scheduler(tiny, backend, { blockSize: 4, poolBlocks, evictEvery: 4, maxBatch: 4, autoRun: false, admission });
            const pool = scheduler.pool;
            const handles: { promise: Promise<unknown>; cancel: () => void; cancelAt?: number }[] = [];
            const outcomes: string[] = [];
            for (let step = 0; step < 400; step++) {
              arrivals.forEach((a, i) => {
                if (a.at !== step) return;
                let handle: ReturnType<Scheduler['submit']>;
                try {
                  handle = scheduler.submit({
                    prompt: Array.from({ length: a.promptLength }, (_, t) => (t * 11 + i) % 50),
                    maxTokens: a.maxTokens,
                    ...(a.limit ? { maxCacheTokens: a.limit, protectedWindow: 4 } : { method: 'full' }),
                  });
                } catch (error) {
                  outcomes.push(error instanceof PoolExhaustedError ? 'too-big' : `unexpected ${String(error)}`);
                  return;
                }
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
        // SwiftShader runs every GPU step on the CPU: fewer runs there keep the suite's time in bounds
        { numRuns: backendName === 'webgpu' ? 10 : 25, seed: 5 },
      );
      expect(preemptions).toBeGreaterThan(0); // the runs did put the pool under pressure
    }, 240_000);

    it('preempts under pressure and still completes every request with all its tokens', async () => {
      const scheduler = new Scheduler(tiny, backend, { blockSize: 4, poolBlocks: 100, evictEvery: 4, maxBatch: 4, admission: 'optimistic' });
      const pool = scheduler.pool;
      const results = await Promise.all(
        [0, 1, 2, 3].map((i) => scheduler.submit({ prompt: [1, i + 2, i + 3], maxTokens: 60, method: 'full' }).result),
      );
      expect(results.map((r) => r.tokens.length)).toEqual([60, 60, 60, 60]);
      expect(scheduler.totals.preemptions).toBeGreaterThan(0);
      const alone = await runAlone(backend, tiny, { prompt: [1, 2, 3], maxTokens: 60, method: 'full' });
      expect(results[0]!.tokens).toEqual(alone.tokens); // a preempted full-cache sequence resumes exactly
      expect(pool.stats().usedBlocks).toBe(0);
      pool.dispose();
    });

    it('applies a logits processor before sampling and reports log-probabilities', async () => {
      const plain = await runAlone(backend, tiny, { prompt: [1, 2, 3], maxTokens: 8, method: 'full' });
      const banned = plain.tokens[0]!;
      const events: { token: number; logprob?: number; topLogprobs?: readonly { token: number; logprob: number }[] }[] = [];
      const steered = await runAlone(backend, tiny, {
        prompt: [1, 2, 3],
        maxTokens: 8,
        method: 'full',
        logprobs: 3,
        logitsProcessor: (logits) => {
          logits[banned] = -Infinity;
        },
        onToken: (event) => events.push(event),
      });
      expect(steered.tokens).not.toContain(banned);
      expect(events).toHaveLength(8);
      for (const event of events) {
        expect(event.topLogprobs).toHaveLength(3);
        expect(event.topLogprobs![0]!.token).toBe(event.token); // greedy: the most likely one
        expect(event.logprob).toBe(event.topLogprobs![0]!.logprob);
        expect(event.topLogprobs!.reduce((sum, t) => sum + Math.exp(t.logprob), 0)).toBeLessThanOrEqual(1 + 1e-9);
        expect(event.topLogprobs!.map((t) => t.token)).not.toContain(banned);
      }
    });

    it('refuses bad requests with typed errors', async () => {
      const scheduler = new Scheduler(tiny, backend, { poolBlocks: 64, autoRun: false });
      const pool = scheduler.pool;
      expect(() => scheduler.submit({ prompt: [1], maxTokens: 500 })).toThrow(ContextOverflowError);
      expect(() => scheduler.submit({ prompt: [1], method: 'nope' })).toThrow(UnknownMethodError);
      expect(() => scheduler.submit({ prompt: [], maxTokens: 4 })).toThrow(OptionError);
      expect(() => scheduler.submit({ prompt: [1, 999] })).toThrow(OptionError);
      expect(() => scheduler.submit({ prompt: [1], maxCacheTokens: 8, compressionRatio: 2 })).toThrow(OptionError);
      expect(() => scheduler.submit({ prompt: [1], compressionRatio: 0.5 })).toThrow(OptionError);
      expect(() => scheduler.submit({ prompt: [1], maxCacheTokens: 10 })).toThrow(/protectedWindow \+ evictEvery/);
      expect(() => scheduler.submit({ prompt: [1], maxCacheTokens: 64, maxKvBytes: 1 << 20 })).toThrow(/not maxCacheTokens and maxKvBytes/);
      expect(() => scheduler.submit({ prompt: [1], maxKvBytes: 1000 })).toThrow(/maxKvBytes \(1000\) holds 0 entries per KV head in this pool \(f32, blocks of 16\); .* need 32: give at least \d+ bytes/);
      // the size the error names is the smallest that works
      let refusal = '';
      try {
        scheduler.submit({ prompt: [1], maxKvBytes: 1000 });
      } catch (error) {
        refusal = (error as Error).message;
      }
      const least = Number(/give at least (\d+) bytes/.exec(refusal)![1]);
      expect(scheduler.entriesForBytes(least)).toBeGreaterThanOrEqual(32);
      expect(scheduler.entriesForBytes(least - 1)).toBeLessThan(32);
      expect(() => scheduler.submit({ prompt: [1], maxKvBytes: 0.5 })).toThrow(/maxKvBytes must be a whole number/);
      expect(() => scheduler.submit({ prompt: [1], temperature: -1 })).toThrow(OptionError);
      for (const seed of [-1, 0.5, 1e300]) expect(() => scheduler.submit({ prompt: [1], seed })).toThrow(/seed must be a whole number from 0/);
      await scheduler.close();
      // more than the whole pool even alone: refused at once, not after waiting in the queue
      const tight = new Scheduler(tiny, backend, { poolBlocks: 16, autoRun: false });
      const small = tight.pool;
      expect(() => tight.submit({ prompt: Array.from({ length: 100 }, () => 1), maxTokens: 20, method: 'full' })).toThrow(/more than the whole pool holds \(16\)/);
      expect(tight.queuedCount).toBe(0);
      small.dispose();
      expect(() => scheduler.submit({ prompt: [1] })).toThrow(/closed/);
      pool.dispose();
    });
  });

  describe('Scheduler: a failure fails only the sequences it concerns', () => {
    /** The tiny model with its own classifier (untied) and the embedding row of `token` set to NaN. */
    function poisoned(token: number): Model {
      const { dim } = tiny.config;
      const tokenEmbedding = Float32Array.from(tiny.weights.tokenEmbedding).fill(NaN, token * dim, (token + 1) * dim);
      return { ...tiny, weights: { ...tiny.weights, tokenEmbedding, classifier: Float32Array.from(tiny.weights.classifier) } };
    }

    it('fails a sequence whose decode step breaks and gives the others in its batch their own tokens', async () => {
      const victimPrompt = [1, 2, 3];
      const victim: CompletionRequest = { prompt: victimPrompt, maxTokens: 30, method: 'full' };
      const victimTokens = (await runAlone(backend, tiny, victim)).tokens;
      // the bystanders never see the poisoned token; the victim samples it mid-way
      const candidates = [[4, 5], [9, 8, 7, 6], [11, 13], [20, 21, 22], [30, 31], [40, 41]];
      const bystanders: { request: CompletionRequest; tokens: number[] }[] = [];
      for (const prompt of candidates) {
        const request: CompletionRequest = { prompt, maxTokens: 30, maxCacheTokens: 12, protectedWindow: 4 };
        bystanders.push({ request, tokens: (await runAlone(backend, tiny, request)).tokens });
      }
      const used = (b: (typeof bystanders)[number]) => new Set([...(b.request.prompt as number[]), ...b.tokens]);
      const token = victimTokens.slice(1, -1).find((t) => !victimPrompt.includes(t) && bystanders.filter((b) => !used(b).has(t)).length >= 2);
      expect(token).toBeDefined();
      const clean = bystanders.filter((b) => !used(b).has(token!)).slice(0, 2);

      const scheduler = new Scheduler(poisoned(token!), backend, { blockSize: 4, poolBlocks: 4096, evictEvery: 4, maxBatch: 4 });
      const pool = scheduler.pool;
      const outcomes = await Promise.allSettled([victim, ...clean.map((b) => b.request)].map((r) => scheduler.submit(r).result));
      expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: expect.any(InvalidNumberError) });
      outcomes.slice(1).forEach((outcome, i) => expect(outcome).toMatchObject({ status: 'fulfilled', value: { tokens: clean[i]!.tokens } }));
      // a prompt holding the token fails at admission; the loop goes on with later requests
      await expect(scheduler.submit({ prompt: [token!, 1], maxTokens: 4 }).result).rejects.toBeInstanceOf(InvalidNumberError);
      expect((await scheduler.submit(clean[0]!.request).result).tokens).toEqual(clean[0]!.tokens);
      expect(scheduler.totals.failed).toBe(2);
      expect(pool.stats().usedBlocks).toBe(0);
      pool.check();
      await scheduler.close();
      pool.dispose();
    });

    it('a model whose weights are all NaN fails every request with INVALID_NUMBER and keeps serving', async () => {
      const broken: Model = { ...tiny, weights: { ...tiny.weights, finalNorm: new Float32Array(tiny.config.dim).fill(NaN) } };
      const scheduler = new Scheduler(broken, backend, { blockSize: 4, poolBlocks: 1024, evictEvery: 4 });
      const pool = scheduler.pool;
      for (let round = 0; round < 2; round++) {
        const outcomes = await Promise.allSettled([
          scheduler.submit({ prompt: [1, 2], maxTokens: 4, method: 'full' }).result,
          scheduler.submit({ prompt: [3, 4, 5, 6, 7, 8], maxTokens: 4, maxCacheTokens: 8, protectedWindow: 4 }).result,
        ]);
        for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'INVALID_NUMBER', message: expect.stringMatching(/non-finite logit/) } });
      }
      expect(pool.stats().usedBlocks).toBe(0);
      await scheduler.close();
      pool.dispose();
    });

    it('a throwing onToken callback fails its own request only', async () => {
      const scheduler = new Scheduler(tiny, backend, { blockSize: 4, poolBlocks: 1024, evictEvery: 4 });
      const pool = scheduler.pool;
      const boom = new Error('client handler failed');
      let calls = 0;
      const failing = scheduler.submit({ prompt: [1, 2], maxTokens: 10, onToken: () => { if (++calls === 3) throw boom; } }).result;
      const fine = scheduler.submit({ prompt: [1, 2], maxTokens: 10 }).result;
      await expect(failing).rejects.toBe(boom);
      expect((await fine).tokens).toHaveLength(10);
      expect(pool.stats().usedBlocks).toBe(0);
      await scheduler.close();
      pool.dispose();
    });
  });
});

// The byte limit is a token limit computed from the pool's block layout; the token limit's path is
// tested on both backends above. Real bytes held are checked where every format is stored (wasm).
describe('Scheduler with maxKvBytes (wasm)', () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await createBackend('wasm');
  });
  afterAll(() => backend.dispose());

  it('keeps each sequence within maxKvBytes of the pool format, measured after every token', async () => {
    const model = stories15m();
    const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog Max.';
    // stories15M: 6 layers x 6 KV heads, head dim 48; blocks of 8 rows
    for (const [kvFormat, maxKvBytes] of [['f32', 560_000], ['int8', 250_000]] as const) {
      const scheduler = new Scheduler(model, backend, { blockSize: 8, poolBlocks: 4096, evictEvery: 4, kvFormat });
      const entries = scheduler.entriesForBytes(maxKvBytes);
      expect(entries, kvFormat).toBeGreaterThanOrEqual(12);
      const results = await Promise.all(
        [story, `${story} One day they found a ball.`].map((prompt) => scheduler.submit({ prompt, maxTokens: 24, maxKvBytes, protectedWindow: 8 }).result),
      );
      for (const result of results) {
        expect(result.peakKvBytes, kvFormat).toBeLessThanOrEqual(maxKvBytes);
        expect(result.peakKvBytes, kvFormat).toBeGreaterThan(maxKvBytes / 3);
        expect(result.evictedTokens, kvFormat).toBeGreaterThan(0);
        expect(result.tokens).toHaveLength(24);
      }
      const pool = scheduler.pool;
      await scheduler.close();
      pool.dispose();
    }
  });
});
