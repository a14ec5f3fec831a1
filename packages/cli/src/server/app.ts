import { AdakvError, type Model, type PagedPool, type Scheduler } from '@adakv/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { type CompletionBody, completionBodySchema, toCompletionRequest } from './completion-body.js';
import { completionChunk, completionResponse, errorBody } from './openai-format.js';
import { type ServerCounters, prometheusText } from './prometheus.js';

export interface ServerOptions {
  readonly model: Model;
  /** The name reported in responses and /health. */
  readonly modelName: string;
  readonly scheduler: Scheduler;
  readonly pool: PagedPool;
  /** Largest request body in bytes (default 64 KiB). */
  readonly bodyLimit?: number;
  /** Most requests running or waiting at once; more get 429 (default 64). */
  readonly maxPending?: number;
  /** `max_tokens` when a request gives none (default 64). */
  readonly defaultMaxTokens?: number;
}

const BAD_REQUEST = new Set(['INVALID_OPTION', 'INVALID_BUDGET', 'INVALID_NUMBER', 'UNKNOWN_METHOD', 'CONTEXT_OVERFLOW', 'SHAPE_MISMATCH']);

function statusFor(error: AdakvError): number {
  if (BAD_REQUEST.has(error.code)) return 400;
  if (error.code === 'POOL_EXHAUSTED') return 507; // the pool cannot hold this request even alone
  return 500;
}

/**
 * The HTTP face of a scheduler: OpenAI-compatible `/v1/completions` (JSON or server-sent events),
 * `/health` and Prometheus `/metrics`. A client that disconnects cancels its request, which frees
 * its blocks.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { scheduler, pool, modelName } = options;
  const maxPending = options.maxPending ?? 64;
  const defaultMaxTokens = options.defaultMaxTokens ?? 64;
  const counters: ServerCounters = { requests: { completed: 0, cancelled: 0, failed: 0, rejected: 0 }, recent: [] };
  let nextId = 1;
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    logger: false,
    // unknown fields and wrong types are the client's mistake to hear about, not to have silently fixed
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof AdakvError) {
      counters.requests.rejected++;
      return reply.code(statusFor(error)).send(errorBody(error.message, 'invalid_request_error', error.code));
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) return reply.code(500).send(errorBody('Internal server error.', 'server_error', null));
    counters.requests.rejected++;
    const code = (error as { code?: string }).code ?? null;
    return reply.code(status).send(errorBody((error as Error).message, 'invalid_request_error', code));
  });

  app.get('/health', async () => ({
    status: 'ok',
    model: modelName,
    running: scheduler.runningCount,
    queued: scheduler.queuedCount,
  }));

  app.get('/metrics', async (_request, reply) => {
    const now = performance.now();
    counters.recent = counters.recent.filter((r) => now - r.at <= 10_000);
    return reply.type('text/plain; version=0.0.4').send(prometheusText(scheduler, pool.stats(), counters, now));
  });

  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBodySchema } }, async (request, reply) => {
    if (scheduler.runningCount + scheduler.queuedCount >= maxPending) {
      counters.requests.rejected++;
      return reply.code(429).send(errorBody(`The server already has ${maxPending} requests; retry later.`, 'rate_limit_error', null));
    }
    const body = request.body;
    const identity = { id: `cmpl-${nextId++}`, created: Math.floor(Date.now() / 1000), model: body.model ?? modelName };
    const abort = new AbortController();
    const stream = body.stream === true;
    let onToken: ((event: { token: number; text: string }) => void) | undefined;
    if (stream) {
      onToken = ({ text }) => {
        if (text) reply.raw.write(completionChunk(identity, text, null));
      };
    }
    const handle = scheduler.submit({ ...toCompletionRequest(body, defaultMaxTokens), signal: abort.signal, ...(onToken ? { onToken } : {}) });
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort(); // the client went away before the answer: free its blocks
    });
    if (stream) {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    }
    try {
      const result = await handle.result;
      counters.requests[result.finishReason === 'cancelled' ? 'cancelled' : 'completed']++;
      counters.recent.push({ at: performance.now(), tokens: result.tokens.length });
      if (!stream) return completionResponse(identity, result);
      reply.raw.write(completionChunk(identity, '', result.finishReason));
      reply.raw.end('data: [DONE]\n\n');
      return reply;
    } catch (error) {
      counters.requests.failed++;
      if (!stream) throw error;
      const message = error instanceof Error ? error.message : String(error);
      reply.raw.end(`data: ${JSON.stringify(errorBody(message, 'server_error', error instanceof AdakvError ? error.code : null))}\n\n`);
      return reply;
    }
  });

  return app;
}
