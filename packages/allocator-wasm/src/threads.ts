import type { Allocator } from './allocator.js';
import { AllocatorError, check } from './errors.js';
import { BROWSER_WORKER_SOURCE, NODE_WORKER_SOURCE } from './worker-source.js';

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
// Variable specifiers keep browser bundlers from trying to resolve Node's built-in modules.
const workerThreadsModule = 'node:worker_threads';
const osModule = 'node:os';
/** Bytes of stack per worker (the kernels keep their work in registers and heap scratch). */
const WORKER_STACK_BYTES = 256 * 1024;
const START_TIMEOUT_MS = 30_000;

interface WorkerHandle {
  terminate(): void;
}

/** Whether this runtime can share a WebAssembly.Memory with workers, and if not, why. */
export async function threadSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (typeof SharedArrayBuffer === 'undefined') {
    return { ok: false, reason: isNode ? 'this Node has no SharedArrayBuffer' : 'SharedArrayBuffer is unavailable: the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)' };
  }
  if (isNode) {
    try {
      await import(/* @vite-ignore */ workerThreadsModule);
      return { ok: true };
    } catch {
      return { ok: false, reason: 'node:worker_threads is unavailable' };
    }
  }
  if (typeof Worker === 'undefined') return { ok: false, reason: 'this runtime has no Web Workers' };
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== true) {
    return { ok: false, reason: 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)' };
  }
  return { ok: true };
}

/** Default thread count: the available cores (at most 16). */
export async function availableCores(): Promise<number> {
  let cores = 1;
  if (isNode) {
    const os = (await import(/* @vite-ignore */ osModule)) as typeof import('node:os');
    cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } else if (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) {
    cores = navigator.hardwareConcurrency;
  }
  return Math.max(1, Math.min(16, cores));
}

/**
 * Starts `threads - 1` workers over the allocator's shared memory (the allocator must be a threads
 * variant); resolves once each has instantiated the module and entered its wait loop.
 */
export async function startWorkers(allocator: Allocator, threads: number): Promise<WorkerHandle[]> {
  const { exports, module } = allocator;
  check(exports.adakv_threads_configure(threads, WORKER_STACK_BYTES), 'startWorkers');
  const failedFlag = exports.adakv_threads_failed_flag() >>> 0;
  const memory = exports.memory;
  const handles: WorkerHandle[] = [];
  const started: Promise<void>[] = [];
  const NodeWorker = isNode ? ((await import(/* @vite-ignore */ workerThreadsModule)) as typeof import('node:worker_threads')).Worker : undefined;
  let blobUrl: string | undefined;
  for (let index = 1; index < threads; index++) {
    const data = { module, memory, index, stackTop: exports.adakv_thread_stack_top(index) >>> 0, failedFlag };
    started.push(
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker ${index} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        const onMessage = (message: { type: string; message?: string }) => {
          if (message.type === 'ready') {
            clearTimeout(timer);
            resolve();
          } else if (message.type === 'error') {
            clearTimeout(timer);
            reject(new Error(`worker ${index}: ${message.message}`));
          }
        };
        if (NodeWorker) {
          const worker = new NodeWorker(NODE_WORKER_SOURCE, { eval: true, workerData: data });
          worker.on('message', onMessage);
          worker.on('error', (error) => reject(error));
          // Idle workers must not keep the process alive; they block inside WebAssembly anyway.
          worker.unref();
          handles.push({ terminate: () => void worker.terminate() });
        } else {
          blobUrl ??= URL.createObjectURL(new Blob([BROWSER_WORKER_SOURCE], { type: 'text/javascript' }));
          const worker = new Worker(blobUrl);
          worker.onmessage = (event: MessageEvent) => onMessage(event.data as { type: string; message?: string });
          worker.onerror = (event) => reject(new Error(event.message));
          worker.postMessage(data);
          handles.push({ terminate: () => worker.terminate() });
        }
      }),
    );
  }
  try {
    await Promise.all(started);
  } catch (error) {
    exports.adakv_threads_stop();
    for (const handle of handles) handle.terminate();
    throw new AllocatorError('WORKER_FAILED', `Could not start the engine's worker threads: ${(error as Error).message}.`, { cause: error });
  } finally {
    if (blobUrl) URL.revokeObjectURL(blobUrl);
  }
  return handles;
}
