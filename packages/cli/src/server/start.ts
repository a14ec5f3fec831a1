import { type Model, PagedPool, Scheduler, cacheGeometry } from '@adakv/core';
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
}

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly scheduler: Scheduler;
  readonly pool: PagedPool;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  readonly url: string;
  /** Stops listening, then drains running requests (or cancels them after `graceMs`), then frees the pool. */
  close(graceMs?: number): Promise<void>;
}

/** Creates the pool, the scheduler and the HTTP server, and starts listening. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const pool = await PagedPool.create({ headDim: cacheGeometry(options.model.config).headDim, blockSize: options.blockSize, poolBlocks: options.poolBlocks });
  const scheduler = new Scheduler(options.model, pool, { maxBatch: options.maxBatch });
  const app = buildServer({
    model: options.model,
    modelName: options.modelName,
    scheduler,
    pool,
    maxPending: options.maxPending,
    bodyLimit: options.bodyLimit,
  });
  const url = await app.listen({ host: options.host, port: options.port });
  let closing: Promise<void> | null = null;
  return {
    app,
    scheduler,
    pool,
    url,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const drained = scheduler.close({ drain: true });
        const timer = setTimeout(() => void scheduler.close({ drain: false }), graceMs);
        await drained;
        clearTimeout(timer);
        await app.close();
        pool.dispose();
      })();
      return closing;
    },
  };
}
