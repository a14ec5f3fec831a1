// Threads over one shared WebAssembly.Memory, without emscripten's pthreads (which STANDALONE_WASM
// refuses): the same module is instantiated in a few workers (worker_threads in Node, Web Workers in
// browsers), each with its own stack region (thread_stack.S sets __stack_pointer), and each worker
// calls workerMain(), which waits in memory.atomic.wait32 for jobs. A job is a range task over
// [0, count): the caller and the workers claim shares of it (guided: each claim takes part of what is
// left, by a compare-and-swap of (job, next task), so a stale worker can never claim from a newer job);
// the caller (the main thread, which must never block in a browser) works too and then spins until
// every task is done. Task boundaries do not depend on who runs them, so neither do the results.
// Workers never allocate: callers reserve per-thread scratch up front. Builds without -matomics (the
// single-thread .wasm files, the native test builds) run every job inline on the caller.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../status.h"

namespace adakv {
namespace engine {

constexpr int32_t kMaxThreads = 64;

// begin/end: the range of task indices; thread: 0 for the caller, 1.. for workers.
using RangeTask = void (*)(void* context, int32_t begin, int32_t end, int32_t thread);

// Runs task over [0, count) on every active thread; returns kOk, or kWorkerFailed when a worker
// trapped (the engine is then unusable).
Status parallelFor(int32_t count, RangeTask task, void* context);
int32_t activeThreads();
// Tasks each thread ran since the last call, into out[0 .. min(threads, capacity)); returns the count.
int32_t takeTaskCounts(int32_t* out, int32_t capacity);

// Main thread: allocates stacks for threads - 1 workers; workers must then enter workerMain.
Status configureThreads(int32_t threads, int32_t stackBytes);
uintptr_t workerStackTop(int32_t index);
// A worker's life: waits for jobs until stopThreads(). Returns 0.
int32_t workerMain(int32_t index);
void stopThreads();
// Address of the flag a worker's JS sets when its instance trapped.
int32_t* failedFlag();

// Per-thread scratch of at least `floats` floats, reserved by the main thread before a job.
Status reserveScratch(size_t floats);
float* scratch(int32_t thread);

}  // namespace engine
}  // namespace adakv
