import { Generator, type Model } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../src/server/start.js';

// Broken models behind a real server on loopback: a request whose execution fails gets a 500 (its
// error's code in the OpenAI shape), and the server goes on answering everything else.

let base: Model;
const servers: RunningServer[] = [];

async function serve(model: Model): Promise<RunningServer> {
  const server = await startServer({
    model, modelName: 'broken', host: '127.0.0.1', port: 0,
    poolBlocks: 2048, blockSize: 16, maxBatch: 4, maxPending: 16, bodyLimit: 4096,
  });
  servers.push(server);
  return server;
}

/** stories15M with one weight of `row` of the token embedding (or of the classifier) set to NaN; the other left as it was. */
function withNaN(model: Model, where: 'tokenEmbedding' | 'classifier', row: number): Model {
  const poisoned = Float32Array.from(model.weights[where]);
  poisoned[row * model.config.dim] = Number.NaN;
  // stories15M ties the classifier to the embedding: untie them, so that only the chosen one is broken
  const weights = { ...model.weights, tokenEmbedding: model.weights.tokenEmbedding, classifier: model.weights.classifier, [where]: poisoned };
  return { ...model, weights };
}

const post = (server: RunningServer, body: unknown) =>
  fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000), // a request the server forgot fails the test instead of hanging it
  });

async function expectAlive(server: RunningServer): Promise<void> {
  const health = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(10_000) });
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok', running: 0, queued: 0, pool: { usedBlocks: 0 } });
  server.pool.check();
}

beforeAll(async () => {
  base = await loadDefaultModel();
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close(1000)));
});

describe('adakv serve with a model that fails', () => {
  it('answers 500 INVALID_NUMBER to the request whose prompt meets a NaN weight, and serves the others as before', async () => {
    const poison = base.tokenizer!.encode('xylophone').at(-1)!;
    const server = await serve(withNaN(base, 'tokenEmbedding', poison));
    const clean = ['Once upon a time', 'Tom had a red ball.'];
    for (const prompt of clean) expect(base.tokenizer!.encode(prompt)).not.toContain(poison);
    const expected = await Promise.all(clean.map((prompt) => new Generator(base).generate(prompt, { steps: 8 })));
    // the failing request runs next to healthy ones, streamed and not
    const [bad, badStreamed, ...good] = await Promise.all([
      post(server, { prompt: 'The xylophone', max_tokens: 8 }),
      post(server, { prompt: 'A xylophone', max_tokens: 8, stream: true }),
      ...clean.map((prompt) => post(server, { prompt, max_tokens: 8 })),
    ]);
    for (const response of [bad, badStreamed]) {
      expect(response.status).toBe(500);
      expect(response.headers.get('content-type')).toContain('application/json'); // no stream was started
      expect(await response.json()).toEqual({
        error: { message: expect.stringMatching(/NaN|non-finite|finite/i), type: 'server_error', param: null, code: 'INVALID_NUMBER' },
      });
    }
    for (const [i, response] of good.entries()) {
      expect(response.status).toBe(200);
      expect((await response.json()).choices[0].text).toBe(expected[i]!.text);
    }
    // and afterwards
    await expectAlive(server);
    const later = await post(server, { prompt: 'Once upon a time', max_tokens: 8, stream: true });
    expect(later.status).toBe(200);
    expect(await later.text()).toMatch(/data: \[DONE\]\n\n$/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('adakv_requests_total{outcome="failed"} 2');
    await expectAlive(server);
  });

  it('answers 500 to every request of a model whose classifier holds NaN, streamed or not, and stays up', async () => {
    const server = await serve(withNaN(base, 'classifier', 42));
    for (const stream of [false, true, false]) {
      const response = await post(server, { prompt: 'Once upon a time', max_tokens: 4, stream });
      expect(response.status).toBe(500);
      expect((await response.json()).error).toMatchObject({ type: 'server_error', code: 'INVALID_NUMBER' });
      await expectAlive(server);
    }
  });

  it('ends a stream that fails after its first tokens with an error event and [DONE]', async () => {
    const greedy = await new Generator(base).generate('Once upon a time', { steps: 8 });
    const server = await serve(withNaN(base, 'tokenEmbedding', greedy.tokens[4]!)); // the fifth token's embedding
    const response = await post(server, { prompt: 'Once upon a time', max_tokens: 12, stream: true });
    expect(response.status).toBe(200);
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const last = JSON.parse(events.at(-2)!.slice('data: '.length));
    expect(last).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: 'INVALID_NUMBER' } });
    const text = events.slice(0, -2).map((e) => JSON.parse(e.slice('data: '.length)).choices[0].text).join('');
    expect(greedy.text.startsWith(text)).toBe(true);
    expect(text.length).toBeGreaterThan(0);
    await expectAlive(server);
  });

  it('answers 500 when the model is broken in another way: a BOS token outside its vocabulary', async () => {
    const tokenizer = Object.create(base.tokenizer!, { bosToken: { value: base.config.vocabSize + 7 } });
    const server = await serve({ ...base, tokenizer });
    for (const stream of [false, true]) {
      const response = await post(server, { prompt: 'Once upon a time', max_tokens: 4, stream });
      expect(response.status).toBe(500);
      expect((await response.json()).error).toMatchObject({ type: 'server_error', message: expect.stringMatching(/vocabulary/) });
    }
    await expectAlive(server);
  });
});
