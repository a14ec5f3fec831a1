import { AdakvError, type CompletionHandle, type KvPool, type Model, OptionError, type Scheduler } from '@adakv/core';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { type CompletionBody, completionBodySchema, toCompletionRequest } from './completion-body.js';
import { type ErrorType, completionChunk, completionResponse, errorBody, errorEvent } from './openai-format.js';
import { type ServerCounters, prometheusText } from './prometheus.js';

export interface ServerOptions {
  readonly model: Model;
  /** The name reported in responses and /health. */
  readonly modelName: string;
  readonly scheduler: Scheduler;
  readonly pool: KvPool;
  /** Largest request body in bytes (default 64 KiB). */
  readonly bodyLimit?: number;
  /** Most requests running or waiting at once; more get 429 (default 64). */
  readonly maxPending?: number;
  /** `max_tokens` when a request gives none (default 64). */
  readonly defaultMaxTokens?: number;
  /**
   * Milliseconds a client has to send a whole request, headers and body (default 30 s; 0 = no
   * limit). Only receiving counts: a response being generated or streamed is never cut off.
   * A client that is too slow gets 408 and its connection is closed.
   */
  readonly requestTimeout?: number;
  /** Milliseconds a client has to send the request headers (default 10 s or `requestTimeout` if less; 0 = no limit). */
  readonly headersTimeout?: number;
  /** Milliseconds an idle keep-alive connection stays open after a response (default 5 s). */
  readonly keepAliveTimeout?: number;
  /** Most TCP connections open at once; further ones are closed as soon as they are accepted (default 256; 0 = no limit). */
  readonly maxConnections?: number;
  /** True once the server is shutting down: new completions get 503 while running ones drain. */
  readonly isClosing?: () => boolean;
}

export const serverDefaults = {
  bodyLimit: 64 * 1024,
  maxPending: 64,
  defaultMaxTokens: 64,
  requestTimeout: 30_000,
  headersTimeout: 10_000,
  keepAliveTimeout: 5_000,
  maxConnections: 256,
} as const;

/** Error codes a request can be refused with before it runs: its own mistakes. */
const BAD_REQUEST = new Set(['INVALID_OPTION', 'INVALID_BUDGET', 'INVALID_NUMBER', 'UNKNOWN_METHOD', 'CONTEXT_OVERFLOW', 'SHAPE_MISMATCH']);

interface Refusal {
  status: number;
  type: ErrorType;
  message: string;
  code: string | null;
}

/**
 * What to answer for an error, by where it happened. `submit`: the scheduler refused the request
 * while checking it, so an option it got wrong is the client's mistake (400), and a request the
 * pool could never hold is 507. `run`: the request was accepted and failed while it ran (the model
 * computed NaN, a token outside the vocabulary): a server error (500) carrying the error's code,
 * except running out of pool blocks, which stays 507.
 */
export function refusalFor(error: unknown, phase: 'submit' | 'run'): Refusal {
  if (!(error instanceof AdakvError)) {
    return { status: 500, type: 'server_error', message: 'Internal server error.', code: null };
  }
  if (error.code === 'POOL_EXHAUSTED') return { status: 507, type: 'invalid_request_error', message: error.message, code: error.code };
  if (phase === 'submit' && BAD_REQUEST.has(error.code)) {
    return { status: 400, type: 'invalid_request_error', message: error.message, code: error.code };
  }
  return { status: 500, type: 'server_error', message: error.message, code: error.code };
}

/** The field a schema validation error names, as OpenAI's `param`. */
function paramOf(error: FastifyError): string | null {
  const first = error.validation?.[0];
  if (!first) return null;
  const params = first.params as { missingProperty?: string; additionalProperty?: string };
  const name = params.missingProperty ?? params.additionalProperty ?? first.instancePath.replace(/^\//, '');
  return name === '' ? null : name;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * The HTTP face of a scheduler: OpenAI-compatible `/v1/completions` (JSON or server-sent events),
 * `/health` and Prometheus `/metrics`. A client that disconnects cancels its request, which frees
 * its blocks. Every error, from a malformed body to a failed generation, is an OpenAI-style JSON
 * error with its HTTP status.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { scheduler, pool, modelName } = options;
  const maxPending = options.maxPending ?? serverDefaults.maxPending;
  const defaultMaxTokens = options.defaultMaxTokens ?? serverDefaults.defaultMaxTokens;
  const requestTimeout = options.requestTimeout ?? serverDefaults.requestTimeout;
  const headersTimeout = options.headersTimeout ?? Math.min(serverDefaults.headersTimeout, requestTimeout || Infinity);
  const keepAliveTimeout = options.keepAliveTimeout ?? serverDefaults.keepAliveTimeout;
  const maxConnections = options.maxConnections ?? serverDefaults.maxConnections;
  const isClosing = options.isClosing ?? (() => false);
  for (const [name, value] of Object.entries({ requestTimeout, headersTimeout, keepAliveTimeout, maxConnections })) {
    if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) throw new OptionError(`${name} must be a whole number >= 0, got ${value}.`);
  }
  if (requestTimeout > 0 && headersTimeout > requestTimeout) {
    throw new OptionError(`The headers timeout (${headersTimeout} ms) must not be longer than the request timeout (${requestTimeout} ms).`);
  }
  const counters: ServerCounters = { requests: { completed: 0, cancelled: 0, failed: 0, rejected: 0 }, recent: [], droppedConnections: 0 };
  let nextId = 1;
  const shortest = Math.min(requestTimeout || Infinity, headersTimeout || Infinity);
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? serverDefaults.bodyLimit,
    logger: false,
    // unknown fields and wrong types are the client's mistake to hear about, not to have silently fixed
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Node checks these only while a request is being received; a response in progress is not timed
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout,
      // how often Node looks for expired requests (its default, 30 s, would let a 1 s timeout run 31 s)
      connectionsCheckingInterval: Number.isFinite(shortest) ? Math.max(25, Math.min(1000, Math.floor(shortest / 4))) : 30_000,
    },
    clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket) {
      // the request never reached a handler: a timeout while receiving it, oversized headers, bad HTTP
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, message, code] =
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, `The request was not received in time (headers within ${headersTimeout} ms, all of it within ${requestTimeout} ms).`, 'REQUEST_TIMEOUT']
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? [431, 'The request headers are too large.', 'HEADERS_TOO_LARGE']
            : [400, 'Malformed HTTP request.', 'BAD_HTTP_REQUEST'];
      counters.requests.rejected++;
      const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !inFlight?.headersSent) {
        const body = JSON.stringify(errorBody(message, 'invalid_request_error', code));
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(error);
    },
  });
  app.server.keepAliveTimeout = keepAliveTimeout;
  if (maxConnections > 0) app.server.maxConnections = maxConnections;
  app.server.on('drop', () => counters.droppedConnections++);

  // Only JSON bodies; anything else (curl -d sends form data unless told otherwise) is a 400 that says
  // so, as OpenAI answers a body it cannot parse as JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.addContentTypeParser('*', (request, _payload, done) => {
    if (request.is404) return done(null, undefined); // the route's absence is the news
    const type = request.headers['content-type'];
    done(
      Object.assign(new Error(`The body must be JSON sent with content-type: application/json${type ? `, not ${type}` : ''}.`), {
        statusCode: 400,
        code: 'UNSUPPORTED_CONTENT_TYPE',
      }),
    );
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error instanceof AdakvError) {
      const refusal = refusalFor(error, 'submit');
      counters.requests.rejected++;
      return reply.code(refusal.status).send(errorBody(refusal.message, refusal.type, refusal.code));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) return reply.code(500).send(errorBody('Internal server error.', 'server_error', null));
    counters.requests.rejected++;
    return reply.code(status).send(errorBody(error.message, 'invalid_request_error', error.code ?? null, paramOf(error)));
  });

  app.setNotFoundHandler((request, reply) => {
    counters.requests.rejected++;
    const path = request.url.split('?')[0]!;
    const allowed = METHODS.filter((method) => app.hasRoute({ url: path, method }));
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(errorBody(`${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}.`, 'invalid_request_error', 'METHOD_NOT_ALLOWED'));
    }
    return reply
      .code(404)
      .send(
        errorBody(
          `Unknown route ${request.method} ${path}. This server answers POST /v1/completions, GET /health and GET /metrics.`,
          'invalid_request_error',
          'NOT_FOUND',
        ),
      );
  });

  app.get('/health', async () => ({
    status: isClosing() ? 'closing' : 'ok',
    model: modelName,
    running: scheduler.runningCount,
    queued: scheduler.queuedCount,
    pool: { usedBlocks: pool.stats().usedBlocks, freeBlocks: pool.stats().freeBlocks },
  }));

  app.get('/metrics', async (_request, reply) => {
    const now = performance.now();
    counters.recent = counters.recent.filter((r) => now - r.at <= 10_000);
    const stats: { usedBlocks: number; freeBlocks: number; heldBytes?: number } = pool.stats();
    // a block holds K and V (f32) of blockSize tokens of one head, when the pool does not say
    const heldBytes = stats.heldBytes ?? stats.usedBlocks * pool.blockSize * scheduler.geometry.headDim * 2 * 4;
    return reply.type('text/plain; version=0.0.4').send(prometheusText(scheduler, { ...stats, heldBytes }, counters, now));
  });

  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBodySchema } }, async (request, reply) => {
    if (isClosing()) {
      counters.requests.rejected++;
      return reply.code(503).header('connection', 'close').send(errorBody('The server is shutting down.', 'server_error', 'SHUTTING_DOWN'));
    }
    if (scheduler.runningCount + scheduler.queuedCount >= maxPending) {
      counters.requests.rejected++;
      return reply.code(429).send(errorBody(`The server already has ${maxPending} requests; retry later.`, 'rate_limit_error', 'TOO_MANY_PENDING'));
    }
    const body = request.body;
    const identity = { id: `cmpl-${nextId++}`, created: Math.floor(Date.now() / 1000), model: body.model ?? modelName };
    const abort = new AbortController();
    const stream = body.stream === true;
    // A stream's headers are written with its first token (or its result), not before: a request
    // that fails before then (pool too small, the model failing in prefill) gets a plain JSON error
    // with its real status, as it would without streaming.
    let started = false;
    const startStream = () => {
      if (started) return;
      started = true;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    };
    const onToken = stream
      ? ({ text }: { text: string }) => {
          if (reply.raw.destroyed) return; // gone; the abort below frees its blocks at the next step
          startStream();
          if (text) reply.raw.write(completionChunk(identity, text, null));
        }
      : undefined;
    let handle: CompletionHandle;
    try {
      handle = scheduler.submit({ ...toCompletionRequest(body, defaultMaxTokens), signal: abort.signal, ...(onToken ? { onToken } : {}) });
    } catch (error) {
      const refusal = refusalFor(error, 'submit');
      counters.requests[refusal.status >= 500 && refusal.status !== 507 ? 'failed' : 'rejected']++;
      return reply.code(refusal.status).send(errorBody(refusal.message, refusal.type, refusal.code));
    }
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort(); // the client went away before the answer: free its blocks
    });
    try {
      const result = await handle.result;
      counters.requests[result.finishReason === 'cancelled' ? 'cancelled' : 'completed']++;
      counters.recent.push({ at: performance.now(), tokens: result.tokens.length });
      if (!stream) return completionResponse(identity, result);
      if (reply.raw.destroyed) {
        if (!started) reply.hijack(); // nobody to answer
        return reply;
      }
      startStream();
      reply.raw.write(completionChunk(identity, '', result.finishReason));
      reply.raw.end('data: [DONE]\n\n');
      return reply;
    } catch (error) {
      counters.requests.failed++;
      const refusal = refusalFor(error, 'run');
      if (!started) return reply.code(refusal.status).send(errorBody(refusal.message, refusal.type, refusal.code));
      reply.raw.end(errorEvent(refusal.message, refusal.type, refusal.code));
      return reply;
    }
  });

  return app;
}
