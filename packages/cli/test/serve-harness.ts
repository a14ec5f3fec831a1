import { ensureDefaultModel } from '@adakv/core/node';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import type { ModelFile } from '../src/server/engine-protocol.js';
import { type RunningServer, type StartOptions, startServer } from '../src/server/start.js';

// What the server tests share: the engine worker built from source, the default model's files, a
// server with test-sized settings, and a check that a server's pool is empty and consistent.

const packageDir = join(import.meta.dirname, '..');
let workerUrl: URL | undefined;

/** Removes the worker folders of test processes that are gone (a killed test process leaves its folder). */
function removeStaleWorkers(cache: string): void {
  const prefix = 'adakv-engine-worker-';
  for (const name of existsSync(cache) ? readdirSync(cache) : []) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    try {
      process.kill(pid, 0); // alive (or not ours to signal): keep it
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(cache, name), { recursive: true, force: true });
    }
  }
}

/**
 * The engine worker, bundled from src/server/engine-worker.ts once per test process: vitest runs
 * TypeScript, a worker thread needs JavaScript. It lands in this package's node_modules (so that
 * `@adakv/core` resolves from it) in a folder of its own per process.
 */
export function engineWorkerUrl(): URL {
  if (!workerUrl) {
    const cache = join(packageDir, 'node_modules', '.cache');
    removeStaleWorkers(cache);
    const dir = join(cache, `adakv-engine-worker-${process.pid}`);
    execFileSync('npx', ['tsup', 'src/server/engine-worker.ts', '--no-config', '--format', 'esm', '--target', 'es2022', '--silent', '--out-dir', dir], {
      cwd: packageDir,
    });
    renameSync(join(dir, 'engine-worker.js'), join(dir, 'engine-worker.mjs')); // ESM outside any package scope
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    workerUrl = pathToFileURL(join(dir, 'engine-worker.mjs'));
  }
  return workerUrl;
}

/** stories15M's files in the model cache (downloaded once). */
export async function defaultModelFile(): Promise<ModelFile> {
  const files = await ensureDefaultModel();
  return { path: files.modelPath, tokenizerPath: files.tokenizerPath };
}

/** A real server on loopback with test-sized settings; the model runs in the engine worker unless `model` says otherwise. */
export async function startTestServer(options: Partial<StartOptions> = {}): Promise<RunningServer> {
  return startServer({
    model: options.model ?? (await defaultModelFile()),
    modelName: 'stories15M',
    host: '127.0.0.1',
    port: 0,
    poolBlocks: 2048,
    blockSize: 16,
    maxBatch: 4,
    maxPending: 16,
    bodyLimit: 4096,
    // The tests compute expected tokens on this thread between requests; a busy event loop can let the
    // server's 5 s idle timer close a kept-alive socket just as the client reuses it (ECONNRESET).
    keepAliveTimeout: 60_000,
    workerUrl: engineWorkerUrl(),
    ...options,
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the engine is idle, then requires an empty pool that passes its consistency check. */
export async function expectPoolEmpty(server: RunningServer): Promise<void> {
  let inspection = await server.engine.inspect();
  for (let i = 0; i < 200; i++) {
    const { usedBlocks, running, queued } = inspection.state;
    if (usedBlocks === 0 && running === 0 && queued === 0 && server.engine.pendingSequences === 0) break;
    await sleep(20);
    inspection = await server.engine.inspect();
  }
  expect(inspection.state.usedBlocks).toBe(0);
  expect(inspection.state.running + inspection.state.queued).toBe(0);
  expect(inspection.poolError).toBeNull();
}
