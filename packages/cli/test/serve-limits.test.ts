import { request as httpRequest } from 'node:http';
import { type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer, StartOptions } from '../src/server/start.js';
import { expectPoolEmpty, sleep, startTestServer } from './serve-harness.js';

// Every server here is real, on loopback, its engine in a worker thread; the timeouts are small so
// that the tests are quick.

const servers: RunningServer[] = [];

async function serve(options: Partial<StartOptions> = {}): Promise<RunningServer> {
  const server = await startTestServer(options);
  servers.push(server);
  return server;
}

const address = (server: RunningServer) => new URL(server.url);

/** A raw TCP connection to the server, with everything it receives and when it was closed. */
function rawConnection(server: RunningServer): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = address(server);
    const socket = connect({ host: hostname, port: Number(port) });
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((done) => socket.on('close', () => done(performance.now())));
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte at a time every `everyMs` until the socket closes. */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<void> {
  for (const byte of text) {
    if (socket.destroyed || !socket.writable) return;
    socket.write(byte);
    await sleep(everyMs);
  }
}

/** Resolves when the server holds exactly `count` connections (it sees closes a little after the client). */
async function connectionsReach(server: RunningServer, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<number>((resolve, reject) => server.app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    if (open === count) return;
    await sleep(10);
  }
  throw new Error(`the server never held ${count} connections`);
}

/** GET `path` on a fresh connection (no keep-alive agent); rejects if the connection is refused or closed. */
function getFresh(server: RunningServer, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** POSTs a completion on a fresh connection and returns the status and the whole body. */
function postFresh(server: RunningServer, body: unknown): Promise<{ status: number; contentType: string; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}/v1/completions`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), body: text, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close(1000)));
});

describe('adakv serve timeouts', () => {
  const requestTimeout = 600;
  const headersTimeout = 300;
  let server: RunningServer;

  beforeAll(async () => {
    server = await serve({ requestTimeout, headersTimeout, keepAliveTimeout: 300 });
  });

  it('cuts off a client whose body trickles in, with a 408 in the OpenAI shape, within the request timeout', async () => {
    const { socket, received, closed } = await rawConnection(server);
    const body = JSON.stringify({ prompt: 'Once upon a time', max_tokens: 4 });
    const started = performance.now();
    socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    void trickle(socket, body, 50); // 50 ms a byte: the body would take 2 s
    const elapsed = (await closed) - started;
    expect(elapsed).toBeGreaterThanOrEqual(requestTimeout - 50);
    expect(elapsed).toBeLessThan(requestTimeout + 1000);
    expect(received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    const json = JSON.parse(received().split('\r\n\r\n')[1]!);
    expect(json).toEqual({
      error: { message: expect.stringMatching(/not received in time/), type: 'invalid_request_error', param: null, code: 'REQUEST_TIMEOUT' },
    });
    const { state } = await server.engine.inspect();
    expect(state.totals.completed + state.running + state.queued + server.engine.pendingSequences).toBe(0); // never reached the engine
  });

  it('cuts off a client whose headers trickle in within the headers timeout', async () => {
    const { socket, received, closed } = await rawConnection(server);
    const started = performance.now();
    void trickle(socket, 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ' + 'x'.repeat(100) + '\r\n\r\n', 40);
    const elapsed = (await closed) - started;
    expect(elapsed).toBeLessThan(headersTimeout + 1000);
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that sends nothing within the headers timeout', async () => {
    const { closed } = await rawConnection(server);
    const started = performance.now();
    expect((await closed) - started).toBeLessThan(headersTimeout + 1000);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const { socket, received, closed } = await rawConnection(server);
    socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    while (!received().includes('"status":"ok"')) await sleep(5);
    const answered = performance.now();
    // Node keeps the socket 1 s beyond keepAliveTimeout, so that a client using the same figure closes first
    expect((await closed) - answered).toBeLessThan(300 + 1000 + 1000);
  });

  it('never cuts off a generation that takes longer than the request timeout, streamed or not', async () => {
    // a shorter timeout than the others here: the engine decodes 200 tokens in about a second
    const quick = await serve({ requestTimeout: 250, headersTimeout: 200 });
    const [streamed, whole] = await Promise.all([
      postFresh(quick, { prompt: 'Once upon a time', max_tokens: 200, stream: true }),
      postFresh(quick, { prompt: 'Once upon a time', max_tokens: 200 }),
    ]);
    expect(streamed.ms).toBeGreaterThan(250 * 2);
    expect(whole.ms).toBeGreaterThan(250 * 2);
    expect(streamed.status).toBe(200);
    expect(streamed.body.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = streamed.body.split('\n\n').filter(Boolean).slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
    expect(whole.status).toBe(200);
    const answer = JSON.parse(whole.body);
    expect(answer.usage.completion_tokens).toBe(200);
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(answer.choices[0].text);
  });

  it('answers oversized headers with 431 and garbage with 400, in the OpenAI shape, and closes the connection', async () => {
    for (const [request, status, code] of [
      [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['NONSENSE\r\n\r\n', 400, 'BAD_HTTP_REQUEST'],
    ] as const) {
      const { socket, received, closed } = await rawConnection(server);
      socket.write(request);
      await closed;
      expect(received()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(JSON.parse(received().split('\r\n\r\n')[1]!).error).toMatchObject({ type: 'invalid_request_error', param: null, code });
    }
  });

  it('refuses a headers timeout longer than the request timeout', async () => {
    await expect(serve({ requestTimeout: 1000, headersTimeout: 2000 })).rejects.toThrow(/headers timeout \(2000 ms\) must not be longer than the request timeout \(1000 ms\)/);
  });
});

describe('adakv serve connection limit', () => {
  it('closes connection N+1 on arrival while N are open, and takes it again once one closes', async () => {
    const server = await serve({ maxConnections: 3 });
    const held = await Promise.all([rawConnection(server), rawConnection(server), rawConnection(server)]);
    await connectionsReach(server, 3);
    await expect(getFresh(server, '/health')).rejects.toThrow(/ECONNRESET|socket hang up|EPIPE/);
    const metrics = await (async () => {
      held[0]!.socket.destroy();
      await connectionsReach(server, 2);
      expect(await getFresh(server, '/health')).toBe(200);
      await connectionsReach(server, 2);
      return new Promise<string>((resolve, reject) => {
        httpRequest(`${server.url}/metrics`, { agent: false }, (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
    })();
    expect(metrics).toContain('adakv_dropped_connections_total 1');
    for (const { socket } of held) socket.destroy();
  });
});

describe('adakv serve streaming errors', () => {
  it('answers a streamed request the pool cannot hold with the same 507 JSON error as without streaming', async () => {
    const server = await serve({ poolBlocks: 128 });
    const body = { prompt: 'Once upon a time there was a little girl named Lily.', max_tokens: 150 };
    const plain = await postFresh(server, body);
    const streamed = await postFresh(server, { ...body, stream: true });
    for (const answer of [plain, streamed]) {
      expect(answer.status).toBe(507);
      expect(answer.contentType).toContain('application/json');
      expect(JSON.parse(answer.body)).toEqual({
        error: { message: expect.stringMatching(/blocks/), type: 'invalid_request_error', param: null, code: 'POOL_EXHAUSTED' },
      });
    }
    // and a request that fits still streams
    const fits = await postFresh(server, { prompt: 'Once upon a time', max_tokens: 8, compression_ratio: 2, stream: true });
    expect(fits.status).toBe(200);
    expect(fits.contentType).toContain('text/event-stream');
    expect(fits.body.endsWith('data: [DONE]\n\n')).toBe(true);
    await expectPoolEmpty(server);
  });

  it('answers 503 to new completions while shutting down, and finishes the running ones', async () => {
    const server = await serve();
    const running = postFresh(server, { prompt: 'Once upon a time', max_tokens: 32 });
    while (server.engine.state.running === 0) await sleep(5);
    const closing = server.close();
    const refused = await postFresh(server, { prompt: 'Hello', max_tokens: 2 });
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body).error).toMatchObject({ type: 'server_error', code: 'SHUTTING_DOWN' });
    expect(JSON.parse((await running).body).usage.completion_tokens).toBe(32);
    await closing;
  });
});
