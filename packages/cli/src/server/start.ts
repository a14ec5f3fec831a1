import { type Backend, type KvPool, type Model, Scheduler, createBackend } from '@adakv/core';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';

export interface StartOptions {
  readonly model: Model;
  readonly modelName: string;
  readonly host: string;
  readonly port: number;
  /** KV blocks in the shared pool (fixed: the server's cache memory budget). */
  readonly poolBlocks: number;
  readonly blockSize: number;
  readonly maxBatch: number;
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
   * Where the model and the pool run (one with paged storage); default: a wasm backend started here
   * and disposed on close. A backend passed in stays the caller's to dispose.
   */
  readonly backend?: Backend;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly scheduler: Scheduler;
  readonly pool: KvPool;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  readonly url: string;
  /** Refuses new completions (503), drains running requests (or cancels them after `graceMs`), stops listening, then frees the pool. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates the pool, the scheduler and the HTTP server, and starts listening. If listening fails
 * (port in use, an address this machine does not have, a host name that does not resolve), what
 * was created is freed and the listen error is thrown as Node gave it (`code`, `address`, `port`).
 */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const backend = options.backend ?? (await createBackend('wasm'));
  const ownBackend = options.backend === undefined;
  let closing: Promise<void> | null = null;
  let scheduler: Scheduler | undefined;
  let app: FastifyInstance | undefined;
  const release = () => {
    scheduler?.pool.dispose();
    if (ownBackend) backend.dispose();
  };
  try {
    scheduler = new Scheduler(options.model, backend, { poolBlocks: options.poolBlocks, blockSize: options.blockSize, maxBatch: options.maxBatch });
    const pool = scheduler.pool;
    app = buildServer({
      model: options.model,
      modelName: options.modelName,
      scheduler,
      pool,
      maxPending: options.maxPending,
      bodyLimit: options.bodyLimit,
      isClosing: () => closing !== null,
      ...(options.requestTimeout === undefined ? {} : { requestTimeout: options.requestTimeout }),
      ...(options.headersTimeout === undefined ? {} : { headersTimeout: options.headersTimeout }),
      ...(options.keepAliveTimeout === undefined ? {} : { keepAliveTimeout: options.keepAliveTimeout }),
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    });
    const url = await app.listen({ host: options.host, port: options.port });
    const running = { app, scheduler };
    return {
      app,
      scheduler,
      pool,
      url,
      close(graceMs = 10_000) {
        closing ??= (async () => {
          const drained = running.scheduler.close({ drain: true });
          const timer = setTimeout(() => void running.scheduler.close({ drain: false }), graceMs);
          await drained;
          clearTimeout(timer);
          await running.app.close();
          release();
        })();
        return closing;
      },
    };
  } catch (error) {
    await scheduler?.close({ drain: false });
    await app?.close().catch(() => undefined);
    release();
    throw error;
  }
}
