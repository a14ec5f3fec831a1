import { Generator, type Model } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelFile } from '../src/server/engine-protocol.js';
import type { RunningServer, StartOptions } from '../src/server/start.js';
import { defaultModelFile, expectPoolEmpty, startTestServer } from './serve-harness.js';

// Broken models behind a real server on loopback: a request whose execution fails gets a 500 (its
// error's code in the OpenAI shape), and the server goes on answering everything else. The broken
// models are real files (stories15M with one weight set to NaN) that the engine worker loads.

let base: Model;
let folder: string;
const servers: RunningServer[] = [];

async function serve(model: StartOptions['model']): Promise<RunningServer> {
  const server = await startTestServer({ model, modelName: 'broken' });
  servers.push(server);
  return server;
}

/**
 * stories15M's model.bin with one weight of `row` of the token embedding (or of the classifier) set
 * to NaN, the other left as it was. The checkpoint ties the classifier to the embedding, so the copy
 * unties them (a negative vocabulary size in the header, the classifier after the other weights).
 */
async function withNaN(where: 'tokenEmbedding' | 'classifier', row: number): Promise<ModelFile> {
  const { path, tokenizerPath } = await defaultModelFile();
  const bytes = new Uint8Array(await readFile(path));
  const header = new DataView(bytes.buffer, bytes.byteOffset, 28);
  const dim = header.getInt32(0, true);
  const vocab = header.getInt32(20, true);
  const classifier = bytes.slice(28, 28 + vocab * dim * 4);
  header.setInt32(20, -vocab, true);
  const poisoned = where === 'tokenEmbedding' ? new DataView(bytes.buffer, bytes.byteOffset + 28) : new DataView(classifier.buffer);
  poisoned.setFloat32(row * dim * 4, Number.NaN, true);
  const out = new Uint8Array(bytes.byteLength + classifier.byteLength);
  out.set(bytes);
  out.set(classifier, bytes.byteLength);
  const file = join(folder, `${where}-${row}.bin`);
  await writeFile(file, out);
  return { path: file, ...(tokenizerPath ? { tokenizerPath } : {}) };
}

const post = (server: RunningServer, body: unknown) =>
  fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000), // a request the server forgot fails the test instead of hanging it
  });

async function expectAlive(server: RunningServer): Promise<void> {
  await expectPoolEmpty(server);
  const health = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(10_000) });
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok', running: 0, queued: 0, pool: { usedBlocks: 0 } });
}

beforeAll(async () => {
  base = await loadDefaultModel();
  folder = await mkdtemp(join(tmpdir(), 'adakv-broken-'));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close(1000)));
  await rm(folder, { recursive: true, force: true });
});

describe('adakv serve with a model that fails', () => {
  it('answers 500 INVALID_NUMBER to the request whose prompt meets a NaN weight, and serves the others as before', async () => {
    const poison = base.tokenizer!.encode('xylophone').at(-1)!;
    const server = await serve(await withNaN('tokenEmbedding', poison));
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
    const server = await serve(await withNaN('classifier', 42));
    for (const stream of [false, true, false]) {
      const response = await post(server, { prompt: 'Once upon a time', max_tokens: 4, stream });
      expect(response.status).toBe(500);
      expect((await response.json()).error).toMatchObject({ type: 'server_error', code: 'INVALID_NUMBER' });
      await expectAlive(server);
    }
  });

  it('ends a stream that fails after its first tokens with an error event and [DONE]', async () => {
    const greedy = await new Generator(base).generate('Once upon a time', { steps: 8 });
    const server = await serve(await withNaN('tokenEmbedding', greedy.tokens[4]!)); // the fifth token's embedding
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
    // no file loads like this (the loader refuses it), so this engine runs on the test's thread,
    // from the model object, through the same messages as the worker
    const tokenizer = Object.create(base.tokenizer!, { bosToken: { value: base.config.vocabSize + 7 } });
    const server = await serve({ inline: { ...base, tokenizer } });
    for (const stream of [false, true]) {
      const response = await post(server, { prompt: 'Once upon a time', max_tokens: 4, stream });
      expect(response.status).toBe(500);
      expect((await response.json()).error).toMatchObject({ type: 'server_error', message: expect.stringMatching(/vocabulary/) });
    }
    await expectAlive(server);
  });
});
