import { type Backend, type KvFormat, type Model, type TextTokenizer, OptionError, chooseBackend } from '@adakv/core';
import type { FastifyInstance } from 'fastify';
import { MessageChannel, Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { buildServer } from './app.js';
import { EngineClient, type EngineTransport } from './engine-client.js';
import { serveEngine } from './engine-host.js';
import type { EngineInfo, FromEngine, ModelFile, WorkerInit } from './engine-protocol.js';

export interface StartOptions {
  /**
   * The model file: loaded once, by the engine's worker thread (the HTTP thread never holds the
   * weights). Or, for tests and embedding, `inline`: a model object whose engine runs on this thread
   * (then /health waits for each step).
   */
  readonly model: ModelFile | { readonly inline: Model };
  readonly modelName: string;
  readonly host: string;
  readonly port: number;
  /** KV blocks in the shared pool (fixed: the server's cache memory budget). */
  readonly poolBlocks: number;
  readonly blockSize: number;
  readonly maxBatch: number;
  /** How the pool stores K/V (default f32; f16, int8, int4 on wasm and webgpu). */
  readonly kvFormat?: KvFormat;
  readonly maxPending: number;
  readonly bodyLimit: number;
  /** Milliseconds to receive a whole request (default 30 s; 0 = no limit); see `ServerOptions`. */
  readonly requestTimeout?: number;
  /** Milliseconds to receive the request headers (default 10 s, at most `requestTimeout`; 0 = no limit). */
  readonly headersTimeout?: number;
  /** Milliseconds an idle keep-alive connection stays open (default 5 s). */
  readonly keepAliveTimeout?: number;
  /** Most TCP connections open at once (default 256; 0 = no limit). */
  readonly maxConnections?: number;
  /**
   * Where the model and the pool run: a choice the worker starts (`wasm`, the default; `webgpu`;
   * `auto`) and disposes, or, with an inline model, a backend object that stays the caller's.
   */
  readonly backend?: 'wasm' | 'webgpu' | 'auto' | Backend;
  /** The wasm engine's threads (default: the available cores). */
  readonly threads?: number;
  /** The engine worker's script (default: `engine-worker.js` next to this bundle; tests pass one they built). */
  readonly workerUrl?: URL;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  /** The engine's HTTP-side handle: its latest state, `inspect()` for a fresh one with a pool check. */
  readonly engine: EngineClient;
  /** What the engine reported once the model was loaded: the backend in words, a fallback notice, the pool. */
  readonly info: EngineInfo;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  readonly url: string;
  /** Resolves with the reason if the engine stops unexpectedly (its thread crashed); the server then answers 503. */
  readonly crashed: Promise<Error>;
  /** Refuses new completions (503), drains running requests (or cancels them after `graceMs`), stops listening, then frees the pool and ends the engine. */
  close(graceMs?: number): Promise<void>;
}

/** `engine-worker.js` next to the running bundle (ESM: this chunk's URL; CommonJS: its file). */
function defaultWorkerUrl(): URL {
  const here = typeof __filename === 'string' ? pathToFileURL(__filename).href : import.meta.url;
  return new URL('./engine-worker.js', here);
}

function workerTransport(url: URL, init: WorkerInit): EngineTransport {
  const worker = new Worker(url, { workerData: init });
  let terminated = false;
  let crash: ((error: Error) => void) | null = null;
  let failure: Error | null = null;
  worker.on('error', (error) => (failure ??= error));
  worker.on('exit', (code) => {
    if (terminated) return;
    const error = failure ?? new Error(`The engine thread exited with code ${code}.`);
    crash?.(error);
  });
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.on('message', listener),
    onCrash: (listener) => (crash = listener),
    async terminate() {
      terminated = true;
      await worker.terminate();
    },
  };
}

function inlineTransport(model: Model, backend: Backend, ownBackend: boolean, settings: Pick<StartOptions, 'poolBlocks' | 'blockSize' | 'maxBatch' | 'kvFormat'>): EngineTransport {
  if (!model.tokenizer) throw new OptionError('The model has no tokenizer; the server needs one to read prompts.');
  const { port1, port2 } = new MessageChannel();
  serveEngine(port2, { ...settings, model: model as Model & { tokenizer: TextTokenizer }, backend, ownBackend, notice: null });
  return {
    postMessage: (message) => port1.postMessage(message),
    onMessage: (listener) => port1.on('message', (message: FromEngine) => listener(message)),
    onCrash: () => undefined,
    async terminate() {
      port1.close();
      port2.close();
    },
  };
}

/**
 * Starts the engine (a worker thread that loads the model, the backend and the scheduler), listens
 * while it loads (/health says `loading`, /ready 503), and resolves once the model is loaded. If
 * listening fails (port in use, an address this machine does not have, a host name that does not
 * resolve), the engine is stopped and the listen error is thrown as Node gave it (`code`, `address`,
 * `port`); if the model cannot be loaded, the server stops and the engine's error is thrown with
 * its code (`MODEL_FORMAT`, `INVALID_OPTION`, `BACKEND_UNAVAILABLE`, ...).
 */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const settings = {
    poolBlocks: options.poolBlocks,
    blockSize: options.blockSize,
    maxBatch: options.maxBatch,
    ...(options.kvFormat === undefined ? {} : { kvFormat: options.kvFormat }),
  };
  let transport: EngineTransport;
  if ('inline' in options.model) {
    const given = typeof options.backend === 'object' ? options.backend : undefined;
    const backend = given ?? (await chooseBackend(typeof options.backend === 'string' ? options.backend : 'wasm', options.threads === undefined ? {} : { threads: options.threads })).backend;
    transport = inlineTransport(options.model.inline, backend, given === undefined, settings);
  } else {
    if (typeof options.backend === 'object') throw new OptionError('A model file runs in the engine worker, which starts its own backend: pass a backend name.');
    transport = workerTransport(options.workerUrl ?? defaultWorkerUrl(), {
      ...settings,
      model: options.model,
      backend: options.backend ?? 'wasm',
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    });
  }
  const engine = new EngineClient(transport);
  let closing: Promise<void> | null = null;
  let app: FastifyInstance | undefined;
  try {
    app = buildServer({
      engine,
      modelName: options.modelName,
      maxPending: options.maxPending,
      bodyLimit: options.bodyLimit,
      isClosing: () => closing !== null,
      ...(options.requestTimeout === undefined ? {} : { requestTimeout: options.requestTimeout }),
      ...(options.headersTimeout === undefined ? {} : { headersTimeout: options.headersTimeout }),
      ...(options.keepAliveTimeout === undefined ? {} : { keepAliveTimeout: options.keepAliveTimeout }),
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    });
    // listen while the engine loads the model: an address that cannot be used is reported first
    const url = await app.listen({ host: options.host, port: options.port });
    const info = await engine.ready;
    const running = { app, engine };
    return {
      app,
      engine,
      info,
      url,
      crashed: engine.crashed,
      close(graceMs = 10_000) {
        closing ??= (async () => {
          const drained = running.engine.close(true);
          const timer = setTimeout(() => void running.engine.close(false), graceMs);
          await drained;
          clearTimeout(timer);
          await running.app.close();
          await running.engine.dispose();
        })();
        return closing;
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    await engine.dispose().catch(() => undefined);
    throw error;
  }
}
