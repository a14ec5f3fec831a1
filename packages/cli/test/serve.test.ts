import { Generator, type Model } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import autocannon from 'autocannon';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/start.js';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parsePrometheusText, sampleValue } from './prometheus-text.js';
import { expectPoolEmpty as poolEmpty, sleep, startTestServer } from './serve-harness.js';

// A real server on loopback, its engine (model, backend, scheduler) in a worker thread.

let model: Model;
let server: RunningServer;

const post = (body: unknown, raw?: string) =>
  fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });

const expectPoolEmpty = () => poolEmpty(server);

beforeAll(async () => {
  model = await loadDefaultModel();
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('adakv serve', () => {
  it('answers a completion as OpenAI does, with the tokens the generator gives', async () => {
    const expected = await new Generator(model).generate('Once upon a time', { steps: 12 });
    const response = await post({ prompt: 'Once upon a time', max_tokens: 12 });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      object: 'text_completion',
      model: 'stories15M',
      choices: [{ index: 0, text: expected.text, finish_reason: 'length', logprobs: null }],
      usage: { completion_tokens: 12, prompt_tokens: expected.promptTokens.length },
    });
    expect(body.id).toMatch(/^cmpl-/);
  });

  it('streams server-sent events that add up to the same text', async () => {
    const response = await post({ prompt: 'Once upon a time', max_tokens: 12, stream: true, max_cache_tokens: 40, protected_window: 8 });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
    const expected = await new Generator(model).generate('Once upon a time', { steps: 12 });
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(expected.text);
  });

  it('serves parallel clients, each getting what it would get alone', async () => {
    const prompts = ['Tom had a red ball.', 'The cat sat on the mat and', 'Lily went to the park.', 'One day, a big dog', 'The sun was hot.'];
    const bodies = await Promise.all(
      prompts.map((prompt, i) =>
        post({ prompt, max_tokens: 10, ...(i % 2 ? { max_cache_tokens: 40, method: 'snapkv', protected_window: 8 } : {}) }).then((r) => r.json()),
      ),
    );
    for (const [i, prompt] of prompts.entries()) {
      const alone = await post({ prompt, max_tokens: 10, ...(i % 2 ? { max_cache_tokens: 40, method: 'snapkv', protected_window: 8 } : {}) }).then((r) => r.json());
      expect(bodies[i].choices[0].text).toBe(alone.choices[0].text);
    }
    await expectPoolEmpty();
  });

  it('serves every decode-time method, batched: KV-Compress, H2O, CriticalKV and random evict while decoding', async () => {
    const prompt = 'Lily went to the park with her mom. She saw a big tree and a little bird.';
    const methods = ['kvcompress', 'h2o', 'criti-snapkv', 'ada-criti-snapkv', 'random'];
    const body = (method: string) => ({ prompt, max_tokens: 40, method, max_cache_tokens: 32, protected_window: 8 });
    const together = await Promise.all(methods.map((method) => post(body(method)).then(async (r) => ({ status: r.status, json: await r.json() }))));
    for (const [i, method] of methods.entries()) {
      expect(together[i]!.status, method).toBe(200);
      expect(together[i]!.json.adakv.evicted_tokens, method).toBeGreaterThan(0);
      // batched with the others or alone, a sequence gets the same tokens
      const alone = await post(body(method)).then((r) => r.json());
      expect(together[i]!.json.choices[0].text, method).toBe(alone.choices[0].text);
    }
    await expectPoolEmpty();
  });

  it('holds a request within max_kv_bytes: the entries per head its bytes buy in the pool', async () => {
    const prompt = 'Lily went to the park with her mom. She saw a big tree and a little bird.';
    // stories15M (6 layers x 6 KV heads, head dim 48) in f32 blocks of 16 rows: 6144 bytes a block;
    // 3 blocks a head buy 32 entries (one block a head is spare for uneven heads)
    const byBytes = await post({ prompt, max_tokens: 40, max_kv_bytes: 3 * 6144 * 36, protected_window: 8 }).then((r) => r.json());
    const byTokens = await post({ prompt, max_tokens: 40, max_cache_tokens: 32, protected_window: 8 }).then((r) => r.json());
    expect(byBytes.choices[0].text).toBe(byTokens.choices[0].text);
    expect(byBytes.adakv.evicted_tokens).toBe(byTokens.adakv.evicted_tokens);
    expect(byBytes.adakv.evicted_tokens).toBeGreaterThan(0);
    expect(byBytes.adakv.peak_kv_bytes).toBeLessThanOrEqual(3 * 6144 * 36);
    expect(byBytes.adakv.peak_kv_bytes).toBeGreaterThan(2 * 6144 * 36);
    await expectPoolEmpty();
  });

  it('answers bad requests with a 4xx and a JSON error', async () => {
    const cases: [unknown, string | undefined, number, RegExp][] = [
      [null, '{"prompt": "unterminated', 400, /JSON/i],
      [{ max_tokens: 3 }, undefined, 400, /prompt/],
      [{ prompt: 'x', method: 'nope' }, undefined, 400, /Unknown method "nope"/],
      [{ prompt: 'x', max_tokens: 5000 }, undefined, 400, /context/],
      [{ prompt: 'x', temperature: -1 }, undefined, 400, /temperature/],
      [{ prompt: 'x', extra: 1 }, undefined, 400, /additional/],
      [{ prompt: 'x'.repeat(5000) }, undefined, 413, /large/i],
    ];
    for (const [body, raw, status, message] of cases) {
      const response = await post(body, raw);
      expect(response.status).toBe(status);
      const json = await response.json();
      expect(json.error.message).toMatch(message);
      expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(json.error.type).toBe('invalid_request_error');
    }
  });

  it('answers malformed bodies, wrong types and a wrong content type in the OpenAI error shape', async () => {
    const send = (body: string, contentType = 'application/json') =>
      fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const cases: [Response, number, string | null, RegExp][] = [
      [await send('{"prompt": "x",}'), 400, null, /JSON/i],
      [await send(''), 400, null, /empty/i],
      [await send('[1, 2]'), 400, null, /object/],
      [await send('"Once upon a time"'), 400, null, /object/],
      [await send(JSON.stringify({ prompt: 'x', max_tokens: '3' })), 400, 'max_tokens', /integer/],
      [await send(JSON.stringify({ prompt: 7 })), 400, 'prompt', /string/],
      [await send(JSON.stringify({ prompt: 'x', stream: 'yes' })), 400, 'stream', /boolean/],
      [await send(JSON.stringify({ prompt: 'x', nope: 1 })), 400, 'nope', /additional/],
      [await send(JSON.stringify({ max_tokens: 3 })), 400, 'prompt', /prompt/],
      // not JSON at all (curl -d without a content type sends a form)
      [await send('prompt=Once', 'application/x-www-form-urlencoded'), 400, null, /must be JSON .*application\/json, not application\/x-www-form-urlencoded/],
      [await send('Once upon a time', 'text/plain'), 400, null, /must be JSON/],
    ];
    for (const [response, status, param, message] of cases) {
      expect(response.status).toBe(status);
      const { error } = await response.json();
      expect(error).toMatchObject({ type: 'invalid_request_error', param });
      expect(error.message).toMatch(message);
      expect(typeof error.code).toBe('string');
    }
  });

  it('answers unknown routes with 404 and a wrong method with 405 and Allow, in the OpenAI error shape', async () => {
    const notFound = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({
      error: {
        message:
          'Unknown route POST /v1/embeddings. This server answers POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health, GET /ready and GET /metrics.',
        type: 'invalid_request_error',
        param: null,
        code: 'NOT_FOUND',
      },
    });
    expect((await fetch(`${server.url}/nope?x=1`)).status).toBe(404);
    const wrongMethod = await fetch(`${server.url}/v1/completions`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(await wrongMethod.json()).toEqual({
      error: { message: 'GET is not allowed on /v1/completions; use POST.', type: 'invalid_request_error', param: null, code: 'METHOD_NOT_ALLOWED' },
    });
    const postHealth = await fetch(`${server.url}/health`, { method: 'POST' });
    expect(postHealth.status).toBe(405);
    expect(postHealth.headers.get('allow')).toBe('GET, HEAD');
    expect((await postHealth.json()).error.code).toBe('METHOD_NOT_ALLOWED');
    expect((await fetch(`${server.url}/metrics`, { method: 'DELETE' })).status).toBe(405);
  });

  it('frees the blocks of a client that disconnects mid-stream', async () => {
    const cancelledBefore = (await server.engine.inspect()).state.totals.cancelled;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.once('data', () => {
          expect(server.engine.state.usedBlocks).toBeGreaterThan(0);
          req.destroy(); // hang up after the first token
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ prompt: 'Once upon a time', max_tokens: 200, stream: true }));
      setTimeout(() => reject(new Error('no data')), 20_000);
    });
    await expectPoolEmpty();
    expect((await server.engine.inspect()).state.totals.cancelled).toBe(cancelledBefore + 1);
  });

  it('reports health, readiness and Prometheus metrics that a strict exposition-format parser reads', async () => {
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: 'ok', model: 'stories15M', running: 0, queued: 0 });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    const families = parsePrometheusText(text);
    // a published parser (what a scraper uses) reads the same families and values as the strict one
    const published = parsePrometheusTextFormat(text);
    expect(published.map((family) => family.name).sort()).toEqual([...families.keys()].sort());
    const freeBlocks = published.find((family) => family.name === 'adakv_pool_blocks')!.metrics.find((metric) => metric.labels?.state === 'free');
    expect(Number(freeBlocks?.value)).toBe(2048);
    // the engine's gauges and counters, under the names they always had
    expect(sampleValue(families, 'adakv_active_sequences')).toBe(0);
    expect(sampleValue(families, 'adakv_queue_length')).toBe(0);
    expect(sampleValue(families, 'adakv_pool_blocks', { state: 'used' })).toBe(0);
    expect(sampleValue(families, 'adakv_pool_blocks', { state: 'free' })).toBe(2048);
    expect(sampleValue(families, 'adakv_pool_utilization')).toBe(0);
    expect(sampleValue(families, 'adakv_generated_tokens_total')).toBeGreaterThan(0);
    expect(sampleValue(families, 'adakv_requests_total', { outcome: 'cancelled' })).toBeGreaterThan(0);
    expect(sampleValue(families, 'adakv_requests_total', { outcome: 'completed' })).toBeGreaterThan(0);
    expect(sampleValue(families, 'adakv_ready')).toBe(1);
    for (const [name, type] of [
      ['adakv_evicted_tokens_total', 'counter'],
      ['adakv_preemptions_total', 'counter'],
      ['adakv_dropped_connections_total', 'counter'],
      ['adakv_pool_bytes', 'gauge'],
      ['adakv_tokens_per_second', 'gauge'],
      ['adakv_pending_sequences', 'gauge'],
      ['adakv_request_duration_seconds', 'histogram'],
      ['adakv_time_to_first_token_seconds', 'histogram'],
      ['adakv_queue_seconds', 'histogram'],
      ['adakv_prefill_seconds', 'histogram'],
      ['adakv_step_duration_seconds', 'histogram'],
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
      expect(families.get(name)?.help, name).toBeTruthy();
    }
    // every completed request was timed; the latencies are positive and below the test's own length
    const completed = sampleValue(families, 'adakv_request_duration_seconds_count', { endpoint: 'completions', stream: 'false' });
    expect(completed).toBeGreaterThan(0);
    expect(sampleValue(families, 'adakv_request_duration_seconds_sum', { endpoint: 'completions', stream: 'false' })).toBeGreaterThan(0);
    expect(sampleValue(families, 'adakv_time_to_first_token_seconds_count', { endpoint: 'completions', stream: 'true' })).toBeGreaterThan(0);
    expect(sampleValue(families, 'adakv_queue_seconds_count')).toBeGreaterThanOrEqual(completed);
    expect(sampleValue(families, 'adakv_step_duration_seconds_count')).toBeGreaterThan(0);
  });

  it('answers /health, /metrics and new requests while a long generation runs, and takes parallel requests at once', async () => {
    // about 240 tokens: seconds of decoding on a small machine
    const long = fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 240 }),
    }).then(async (r) => ({ body: await r.json(), at: performance.now() }));
    while (server.engine.state.running === 0) await sleep(5);
    const probes: { ms: number; at: number }[] = [];
    let finished: number | null = null;
    void long.then(({ at }) => (finished = at));
    while (finished === null && probes.length < 40) {
      const t0 = performance.now();
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
      expect((await health.json()).running).toBeGreaterThanOrEqual(0);
      probes.push({ ms: performance.now() - t0, at: performance.now() });
      await sleep(25);
    }
    // four parallel requests arrive while it runs: each is received (and stamped) at once
    const created = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        fetch(`${server.url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'Tom had a red ball.', max_tokens: 4 + i }),
        }).then(async (r) => (await r.json()).created as number),
      ),
    );
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    const { body, at: end } = await long;
    expect(body.usage.completion_tokens).toBeGreaterThan(200); // (greedy, it ends the story after 217)
    // /health answered many times before the generation finished
    expect(probes.filter((p) => p.at < end).length).toBeGreaterThanOrEqual(5);
    console.log(
      `/health during a long generation: ${probes.length} probes, median ${probes.map((p) => p.ms).sort((a, b) => a - b)[probes.length >> 1]!.toFixed(1)} ms, ` +
        `max ${Math.max(...probes.map((p) => p.ms)).toFixed(1)} ms`,
    );
    expect(Math.max(...created) - Math.min(...created)).toBeLessThanOrEqual(1);
    await expectPoolEmpty();
  });

  it('takes a bounded load without errors or leaked blocks', async () => {
    const result = await autocannon({
      url: `${server.url}/v1/completions`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 4, compression_ratio: 2, protected_window: 4 }),
      connections: 4,
      amount: 24,
      timeout: 60,
    });
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result['2xx']).toBe(24);
    await expectPoolEmpty();
  });
});

describe('adakv serve limits and shutdown', () => {
  it('says 429 beyond the pending limit, and drains running requests on close', async () => {
    const small = await startTestServer({ poolBlocks: 512, maxBatch: 2, maxPending: 1 });
    const send = (body: unknown) =>
      fetch(`${small.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const first = send({ prompt: 'Once upon a time', max_tokens: 24 });
    while (small.engine.pendingSequences === 0) await sleep(5);
    const second = await send({ prompt: 'Hello', max_tokens: 2 });
    expect(second.status).toBe(429);
    expect((await second.json()).error.type).toBe('rate_limit_error');
    // n x prompts beyond the limit can never run: a 400 naming the field
    const tooMany = await send({ prompt: 'Hello', max_tokens: 2, n: 2 });
    expect(tooMany.status).toBe(400);
    expect((await tooMany.json()).error).toMatchObject({ param: 'n', code: 'INVALID_OPTION' });
    const closing = small.close();
    const ready = await fetch(`${small.url}/ready`);
    expect(ready.status).toBe(503); // draining: a load balancer sends no more
    expect(await ready.json()).toEqual({ status: 'draining' });
    const answer = await (await first).json();
    expect(answer.usage.completion_tokens).toBe(24); // drained, not cut off
    await closing;
  });
});
