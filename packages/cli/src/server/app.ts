import { AdakvError, OptionError } from '@adakv/core';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import {
  type ChatBody,
  type CompletionBody,
  type JobDefaults,
  RequestProblem,
  chatBodySchema,
  chatJob,
  completionBodySchema,
  completionJob,
  sequencesOf,
} from './completion-body.js';
import { type EngineClient, JobFailure, type JobListener } from './engine-client.js';
import { type JobSpec, type LogprobEntry, epochNow } from './engine-protocol.js';
import { type ErrorType, StreamFormat, chatResponse, completionResponse, errorBody, errorEvent, modelList, modelObject } from './openai-format.js';
import { type Endpoint, ServerMetrics } from './prometheus.js';

export interface ServerOptions {
  /** The engine (model, backend and scheduler), usually in a worker thread. */
  readonly engine: EngineClient;
  /** The name reported in responses, /v1/models and /health. */
  readonly modelName: string;
  /** Largest request body in bytes (default 64 KiB). */
  readonly bodyLimit?: number;
  /** Most sequences running or waiting at once (each choice of each prompt counts); more get 429 (default 64). */
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

/** The scheduler's names for what the client sets, and the client's. */
const CLIENT_NAMES: [string, string][] = [
  ['maxCacheTokens', 'max_cache_tokens'],
  ['compressionRatio', 'compression_ratio'],
  ['maxKvBytes', 'max_kv_bytes'],
  ['protectedWindow', 'protected_window'],
  ['maxTokens', 'max_tokens'],
  ['topP', 'top_p'],
];

/** A message from the engine, with the fields it names spelled as the client spells them. */
export function forClient(message: string): string {
  return CLIENT_NAMES.reduce((text, [ours, theirs]) => text.split(ours).join(theirs), message);
}

interface Refusal {
  status: number;
  type: ErrorType;
  message: string;
  code: string | null;
  param: string | null;
}

/** The field an engine error is about, when it names one the client sets. */
function paramOfMessage(code: string, message: string, endpoint: Endpoint | null): string | null {
  if (code === 'UNKNOWN_METHOD') return 'method';
  if (code === 'CONTEXT_OVERFLOW') return endpoint === 'chat' ? 'messages' : 'prompt';
  const named = CLIENT_NAMES.map(([, theirs]) => theirs).find((name) => message.includes(name));
  return named ?? (message.includes('seed') ? 'seed' : message.includes('prompt') ? 'prompt' : null);
}

/**
 * What to answer for an error, by where it happened. `submit`: the engine refused the request while
 * checking it, so an option it got wrong is the client's mistake (400), and a request the pool could
 * never hold is 507. `run`: the request was accepted and failed while it ran (the model computed
 * NaN, a token outside the vocabulary): a server error (500) carrying the error's code, except
 * running out of pool blocks, which stays 507. Messages name the fields as the client sets them.
 */
export function refusalFor(error: unknown, phase: 'submit' | 'run', endpoint: Endpoint | null = null): Refusal {
  if (error instanceof RequestProblem) {
    return { status: 400, type: 'invalid_request_error', message: error.message, code: error.code, param: error.param };
  }
  if (!(error instanceof AdakvError)) {
    return { status: 500, type: 'server_error', message: 'Internal server error.', code: null, param: null };
  }
  const message = forClient(error.message);
  if (error.code === 'POOL_EXHAUSTED') return { status: 507, type: 'invalid_request_error', message, code: error.code, param: null };
  if (phase === 'submit' && BAD_REQUEST.has(error.code)) {
    return { status: 400, type: 'invalid_request_error', message, code: error.code, param: paramOfMessage(error.code, message, endpoint) };
  }
  return { status: 500, type: 'server_error', message, code: error.code, param: null };
}

/** The field a schema validation error names, as OpenAI's `param`. */
function paramOf(error: FastifyError): string | null {
  const first = error.validation?.[0];
  if (!first) return null;
  const params = first.params as { missingProperty?: string; additionalProperty?: string };
  const path = first.instancePath
    .replace(/^\//, '')
    .split('/')
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
  const field = params.missingProperty ?? params.additionalProperty;
  const name = field ? (path ? `${path}.${field}` : field) : path;
  return name === '' ? null : name;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
const ROUTES = 'POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health, GET /ready and GET /metrics';

/**
 * The HTTP face of the engine: OpenAI-compatible `/v1/completions` and `/v1/chat/completions`
 * (JSON or server-sent events), `/v1/models`, `/health`, `/ready` and Prometheus `/metrics`. The
 * engine runs elsewhere (a worker thread), so every route answers while the model computes. A
 * client that disconnects cancels its request, which frees its blocks. Every error, from a malformed
 * body to a failed generation, is an OpenAI-style JSON error with its HTTP status.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { engine, modelName } = options;
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
  const metrics = new ServerMetrics(engine, { maxPending, isClosing });
  const model = { id: modelName, created: Math.floor(Date.now() / 1000) };
  let nextId = 1;
  const shortest = Math.min(requestTimeout || Infinity, headersTimeout || Infinity);
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? serverDefaults.bodyLimit,
    logger: false,
    // unknown fields and wrong types are the client's mistake to hear about, not to have silently fixed
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allowUnionTypes: true } },
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
      metrics.request('rejected');
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
  app.server.on('drop', () => metrics.droppedConnection());

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

  const refuse = (reply: FastifyReply, refusal: Refusal) => reply.code(refusal.status).send(errorBody(refusal.message, refusal.type, refusal.code, refusal.param));

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error instanceof AdakvError || error instanceof RequestProblem) {
      metrics.request('rejected');
      return refuse(reply, refusalFor(error, 'submit'));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) return reply.code(500).send(errorBody('Internal server error.', 'server_error', null));
    metrics.request('rejected');
    return reply.code(status).send(errorBody(error.message, 'invalid_request_error', error.code ?? null, paramOf(error)));
  });

  app.setNotFoundHandler((request, reply) => {
    metrics.request('rejected');
    const path = request.url.split('?')[0]!;
    const allowed = METHODS.filter((method) => app.hasRoute({ url: path, method }));
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(errorBody(`${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}.`, 'invalid_request_error', 'METHOD_NOT_ALLOWED'));
    }
    return reply.code(404).send(errorBody(`Unknown route ${request.method} ${path}. This server answers ${ROUTES}.`, 'invalid_request_error', 'NOT_FOUND'));
  });

  const readiness = (): 'ready' | 'loading' | 'draining' | 'failed' =>
    engine.status === 'loading' ? 'loading' : engine.status !== 'ready' ? 'failed' : isClosing() ? 'draining' : 'ready';

  app.get('/health', async (_request, reply) => {
    const { running, queued, usedBlocks, freeBlocks } = engine.state;
    const status = engine.status === 'loading' ? 'loading' : engine.status !== 'ready' ? 'failed' : isClosing() ? 'closing' : 'ok';
    // alive while loading or draining; a dead engine is a dead server
    return reply.code(status === 'failed' ? 503 : 200).send({ status, model: modelName, running, queued, pending: engine.pendingSequences, pool: { usedBlocks, freeBlocks } });
  });

  app.get('/ready', async (_request, reply) => {
    const status = readiness();
    return reply.code(status === 'ready' ? 200 : 503).send({ status });
  });

  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  app.get('/v1/models', async () => modelList(model));
  app.get<{ Params: { model: string } }>('/v1/models/:model', async (request, reply) =>
    request.params.model === modelName
      ? modelObject(model)
      : reply.code(404).send(errorBody(`The model "${request.params.model}" does not exist; this server serves "${modelName}".`, 'invalid_request_error', 'model_not_found', 'model')),
  );

  /** Runs one completion or chat request: refusals, the engine job, and its answer as JSON or a stream. */
  const complete = async (reply: FastifyReply, endpoint: Endpoint, body: CompletionBody | ChatBody, makeJob: (defaults: JobDefaults) => JobSpec) => {
    const receivedAt = epochNow();
    if (isClosing() || engine.status !== 'ready') {
      metrics.request('rejected');
      const [message, code] =
        engine.status === 'loading' ? ['The model is still loading; retry shortly.', 'MODEL_LOADING'] : isClosing() ? ['The server is shutting down.', 'SHUTTING_DOWN'] : ['The engine stopped.', 'ENGINE_FAILED'];
      return reply
        .code(503)
        .header('connection', isClosing() ? 'close' : 'keep-alive')
        .send(errorBody(message, 'server_error', code));
    }
    const job = makeJob({ maxTokens: defaultMaxTokens, evictEvery: engine.info!.evictEvery, vocabSize: engine.info!.vocabSize, receivedAt });
    const count = sequencesOf(job);
    if (count > maxPending) {
      throw new RequestProblem(
        `This request asks for ${count} sequences (n x prompts), more than the server runs at once (${maxPending}); split it.`,
        job.n > 1 ? 'n' : 'prompt',
        'INVALID_OPTION',
      );
    }
    if (engine.pendingSequences + count > maxPending) {
      metrics.request('rejected');
      return reply.code(429).send(errorBody(`The server already has ${engine.pendingSequences} sequences running or queued (at most ${maxPending}); retry later.`, 'rate_limit_error', 'TOO_MANY_PENDING'));
    }
    const stream = job.stream;
    const identity = { id: `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${nextId++}`, created: Math.floor(Date.now() / 1000), model: body.model ?? modelName };
    const format = new StreamFormat(endpoint === 'chat' ? 'chat' : 'completion', identity, body.stream_options?.include_usage === true);
    // A stream's headers are written with its first token (or its first result), not before: a
    // request that fails before then (pool too small, the model failing in prefill) gets a plain
    // JSON error with its real status, as it would without streaming.
    let started = false;
    let clientGone = false;
    const begun = new Set<number>();
    const startStream = () => {
      if (started) return;
      started = true;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    };
    const write = (choice: number, text: string) => {
      startStream();
      if (!begun.has(choice)) {
        begun.add(choice);
        reply.raw.write(format.start(choice));
      }
      if (text) reply.raw.write(text);
    };
    let firstToken = false;
    const listener: JobListener = {
      onFirst: ({ at, queueMs, prefillMs }) => {
        metrics.admitted(queueMs, prefillMs);
        if (firstToken) return;
        firstToken = true;
        metrics.firstTokenAfter(endpoint, stream, (at - receivedAt) / 1000);
      },
      ...(stream
        ? {
            onToken: (choice: number, text: string, logprobs?: readonly LogprobEntry[]) => {
              if (reply.raw.destroyed) return; // gone; the cancel below frees its blocks at the next step
              write(choice, text || logprobs ? format.text(choice, text, logprobs) : '');
            },
            onChoiceDone: (choice, result) => {
              if (reply.raw.destroyed) return;
              const tail = result.tail || result.tailLogprobs.length > 0 ? format.text(choice, result.tail, result.tailLogprobs) : '';
              write(choice, tail + format.finish(choice, result.finishReason));
            },
          }
        : {}),
    };
    const handle = engine.submit(job, listener);
    reply.raw.on('close', () => {
      if (reply.raw.writableFinished) return;
      clientGone = true; // the client went away before the answer: free its blocks
      handle.cancel();
    });
    try {
      const results = await handle.done;
      const cancelled = clientGone || results.some((r) => r.finishReason === 'cancelled');
      metrics.request(cancelled ? 'cancelled' : 'completed');
      if (!cancelled) metrics.completedAfter(endpoint, stream, (epochNow() - receivedAt) / 1000);
      if (!stream) return endpoint === 'chat' ? chatResponse(identity, results, job.n) : completionResponse(identity, results, job.n);
      if (reply.raw.destroyed) {
        if (!started) reply.hijack(); // nobody to answer
        return reply;
      }
      startStream();
      reply.raw.end(format.end(results, job.n));
      return reply;
    } catch (failure) {
      const { error, phase } = failure instanceof JobFailure ? failure : { error: failure, phase: 'run' as const };
      const refusal = refusalFor(error, phase, endpoint);
      metrics.request(phase === 'submit' && (refusal.status < 500 || refusal.status === 507) ? 'rejected' : 'failed');
      if (!started) {
        // a model that fails on a prompt fails again on it: the openai client need not retry
        if (refusal.status === 500 && refusal.code !== null) reply.header('x-should-retry', 'false');
        return refuse(reply, refusal);
      }
      if (!reply.raw.destroyed) reply.raw.end(errorEvent(refusal.message, refusal.type, refusal.code));
      return reply;
    }
  };

  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBodySchema } }, (request, reply) =>
    complete(reply, 'completions', request.body, (defaults) => completionJob(request.body, defaults)),
  );
  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatBodySchema } }, (request, reply) =>
    complete(reply, 'chat', request.body, (defaults) => chatJob(request.body, defaults)),
  );

  return app;
}
