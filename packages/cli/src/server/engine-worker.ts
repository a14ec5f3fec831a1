// The engine thread of `adakv serve`: loads the model from the file the server was given, starts the
// backend and the scheduler, then serves the HTTP thread's messages (engine-host.ts). The HTTP
// thread never waits for a step: /health, /metrics, new requests and cancellations are answered
// while the model computes.
import { OptionError, chooseBackend } from '@adakv/core';
import { loadModelFile } from '@adakv/core/node';
import { parentPort, workerData } from 'node:worker_threads';
import { serveEngine } from './engine-host.js';
import { type FromEngine, type WorkerInit, toWireError } from './engine-protocol.js';

async function start(port: NonNullable<typeof parentPort>, init: WorkerInit): Promise<void> {
  try {
    const { path, tokenizerPath } = init.model;
    const model = await loadModelFile(path, tokenizerPath ? { tokenizerPath } : {});
    if (!model.tokenizer) {
      // every request is text, so a checkpoint without its tokenizer is a usage mistake
      throw new OptionError(`${path} has no tokenizer: pass --tokenizer FILE (the model's tokenizer.bin), or put tokenizer.bin next to it.`);
    }
    const { backend, notice } = await chooseBackend(init.backend, init.threads === undefined ? {} : { threads: init.threads });
    serveEngine(port, { ...init, model: { ...model, tokenizer: model.tokenizer }, backend, ownBackend: true, notice: notice ?? null });
  } catch (error) {
    port.postMessage({ type: 'load-failed', error: toWireError(error) } satisfies FromEngine);
    // stay until the HTTP thread ends this thread, so that it reads the reason before any exit
    port.on('message', () => undefined);
  }
}

if (parentPort) void start(parentPort, workerData as WorkerInit);
