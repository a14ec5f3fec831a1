// The code each engine worker runs, as a string: it has no imports of its own, so it works from any
// bundle (eval'd by worker_threads in Node, a Blob URL Web Worker in browsers). A worker instantiates
// the engine's compiled module over the shared memory, points its stack pointer at its own region,
// says it is ready, then blocks in adakv_thread_worker (memory.atomic.wait32) running its share of
// every job until the engine stops it. A trap sets the engine's failed flag, so the main thread, which
// spins waiting for workers, returns WORKER_FAILED instead of spinning forever.

const body = `
function startWorker(data, post) {
  var module = data.module, memory = data.memory;
  var instance;
  try {
    instance = new WebAssembly.Instance(module, {
      env: { memory: memory, emscripten_notify_memory_growth: function () {} },
      wasi_snapshot_preview1: {
        proc_exit: function (code) { throw new Error('proc_exit(' + code + ')'); },
        fd_write: function () { return 0; }, fd_close: function () { return 0; }, fd_seek: function () { return 0; }
      }
    });
    instance.exports.adakv_thread_set_stack(data.stackTop);
  } catch (error) {
    post({ type: 'error', message: String(error && error.message || error) });
    return;
  }
  post({ type: 'ready' });
  try {
    instance.exports.adakv_thread_worker(data.index);
    post({ type: 'exit' });
  } catch (error) {
    var flags = new Int32Array(memory.buffer);
    Atomics.store(flags, data.failedFlag >>> 2, 1);
    post({ type: 'error', message: String(error && error.stack || error) });
  }
}
`;

/** worker_threads, `eval: true` (CommonJS): the start data comes as workerData. */
export const NODE_WORKER_SOURCE = `${body}
var threads = require('node:worker_threads');
startWorker(threads.workerData, function (message) { threads.parentPort.postMessage(message); });
`;

/** A classic Web Worker: the start data comes as the first message. */
export const BROWSER_WORKER_SOURCE = `${body}
self.onmessage = function (event) {
  self.onmessage = null;
  startWorker(event.data, function (message) { self.postMessage(message); });
};
`;
