#include "threads.h"

#include <cstdlib>

namespace adakv {
namespace engine {

namespace {

// What a job runs. Two slots, by the generation's parity: a worker that woke late for job G may read
// its slot while the caller already starts job G + 1, which writes the other slot; the slot of G is
// rewritten only for G + 2, after G + 1's claim is published, so a claim of G succeeds only with G's
// own task, context and count. (With one slot a late worker could pair G's claim with G + 1's count,
// run tasks that do not exist and count them done for G + 1, which then ended early: seen once as
// 2-thread decoding differing from 1-thread under heavy load.)
struct Job {
  RangeTask task = nullptr;
  void* context = nullptr;
  int32_t count = 0;
};

struct ThreadState {
  int32_t generation = 0;  // the futex word: bumped once per job
  int32_t done = 0;        // tasks of the current job finished
  int32_t failed = 0;      // set by a worker's JS when its instance trapped
  int32_t stop = 0;
  int32_t threads = 1;     // participants, the caller included
  Job jobs[2];
  // (generation << 32) | next unclaimed task: a claim succeeds only for the job it was meant for.
  uint64_t claim = 0;
};

ThreadState state;
// Tasks each thread ran since the last reset (each thread writes only its own slot).
int32_t tasksRun[kMaxThreads] = {};
float* scratchBase[kMaxThreads] = {};
size_t scratchFloats = 0;

}  // namespace

int32_t activeThreads() { return state.threads; }

int32_t takeTaskCounts(int32_t* out, int32_t capacity) {
  const int32_t count = state.threads < capacity ? state.threads : capacity;
  for (int32_t t = 0; t < count; t++) {
    out[t] = __atomic_load_n(&tasksRun[t], __ATOMIC_RELAXED);
    __atomic_store_n(&tasksRun[t], 0, __ATOMIC_RELAXED);
  }
  return count;
}
int32_t* failedFlag() { return &state.failed; }

Status reserveScratch(size_t floats) {
  if (floats <= scratchFloats) return kOk;
  float* grown[kMaxThreads] = {};
  for (int32_t t = 0; t < state.threads; t++) {
    grown[t] = static_cast<float*>(std::malloc(floats * sizeof(float)));
    if (grown[t] == nullptr) {
      for (int32_t u = 0; u < t; u++) std::free(grown[u]);
      return kOutOfMemory;
    }
  }
  for (int32_t t = 0; t < kMaxThreads; t++) {
    std::free(scratchBase[t]);
    scratchBase[t] = grown[t];
  }
  scratchFloats = floats;
  return kOk;
}

float* scratch(int32_t thread) { return scratchBase[thread]; }

#ifdef __wasm_atomics__

namespace {

constexpr int32_t kSpins = 1 << 14;  // polls before a worker sleeps in memory.atomic.wait32
void* stacks = nullptr;
int32_t stackSize = 0;

// Claims and runs tasks of job `generation` until none is left (or the job is over): guided
// scheduling, each claim taking a share of what remains, so a descheduled thread never holds the
// others up for long and the caller finishes the job alone if no worker shows up. Task boundaries do
// not depend on who runs them, so neither do the results.
void runTasks(uint32_t generation, int32_t thread) {
  const Job job = state.jobs[generation & 1];
  const RangeTask task = job.task;
  void* const context = job.context;
  const int32_t count = job.count;
  const int32_t threads = state.threads;
  uint64_t seen = __atomic_load_n(&state.claim, __ATOMIC_ACQUIRE);
  for (;;) {
    if (static_cast<uint32_t>(seen >> 32) != generation) return;
    const int32_t next = static_cast<int32_t>(seen & 0xffffffffu);
    if (next >= count) return;
    int32_t take = (count - next) / (2 * threads);
    if (take < 1) take = 1;
    if (__atomic_compare_exchange_n(&state.claim, &seen, seen + static_cast<uint64_t>(take), false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      task(context, next, next + take, thread);
      tasksRun[thread] += take;
      __atomic_fetch_add(&state.done, take, __ATOMIC_RELEASE);
      seen = __atomic_load_n(&state.claim, __ATOMIC_ACQUIRE);
    }
  }
}

}  // namespace

Status configureThreads(int32_t threads, int32_t stackBytes) {
  if (threads < 1 || threads > kMaxThreads || stackBytes < 4096 || state.threads != 1 || stacks != nullptr) {
    return kInvalidArgument;
  }
  const size_t size = (static_cast<size_t>(stackBytes) + 15) & ~static_cast<size_t>(15);
  void* region = std::malloc(size * static_cast<size_t>(threads) + 16);
  if (region == nullptr) return kOutOfMemory;
  // Scratch already reserved for one thread must exist for every thread.
  const size_t floats = scratchFloats;
  scratchFloats = 0;
  state.threads = threads;
  if (floats > 0 && reserveScratch(floats) != kOk) {
    state.threads = 1;
    scratchFloats = floats;
    std::free(region);
    return kOutOfMemory;
  }
  stacks = region;
  stackSize = static_cast<int32_t>(size);
  return kOk;
}

uintptr_t workerStackTop(int32_t index) {
  if (stacks == nullptr || index < 1 || index >= state.threads) return 0;
  const uintptr_t base = (reinterpret_cast<uintptr_t>(stacks) + 15) & ~static_cast<uintptr_t>(15);
  return base + static_cast<uintptr_t>(stackSize) * static_cast<uintptr_t>(index);  // grows down
}

int32_t workerMain(int32_t index) {
  int32_t seen = 0;
  for (;;) {
    int32_t generation = __atomic_load_n(&state.generation, __ATOMIC_ACQUIRE);
    for (int32_t spin = 0; generation == seen && spin < kSpins; spin++) {
      generation = __atomic_load_n(&state.generation, __ATOMIC_ACQUIRE);
    }
    while (generation == seen) {
      __builtin_wasm_memory_atomic_wait32(&state.generation, seen, -1);
      generation = __atomic_load_n(&state.generation, __ATOMIC_ACQUIRE);
    }
    seen = generation;
    if (__atomic_load_n(&state.stop, __ATOMIC_ACQUIRE)) return 0;
    runTasks(static_cast<uint32_t>(generation), index);
  }
}

void stopThreads() {
  __atomic_store_n(&state.stop, 1, __ATOMIC_RELEASE);
  __atomic_fetch_add(&state.generation, 1, __ATOMIC_ACQ_REL);
  __builtin_wasm_memory_atomic_notify(&state.generation, 0xffffffffu);
}

Status parallelFor(int32_t count, RangeTask task, void* context) {
  if (state.threads == 1 || count <= 1) {
    if (count > 0) {
      task(context, 0, count, 0);
      tasksRun[0] += count;
    }
    return kOk;
  }
  if (__atomic_load_n(&state.failed, __ATOMIC_ACQUIRE) || state.stop) return kWorkerFailed;
  const uint32_t generation = static_cast<uint32_t>(state.generation) + 1;
  state.jobs[generation & 1] = Job{task, context, count};
  __atomic_store_n(&state.done, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&state.claim, static_cast<uint64_t>(generation) << 32, __ATOMIC_RELEASE);
  __atomic_store_n(&state.generation, static_cast<int32_t>(generation), __ATOMIC_RELEASE);
  __builtin_wasm_memory_atomic_notify(&state.generation, 0xffffffffu);
  runTasks(generation, 0);
  while (__atomic_load_n(&state.done, __ATOMIC_ACQUIRE) < count) {
    if (__atomic_load_n(&state.failed, __ATOMIC_ACQUIRE)) return kWorkerFailed;
  }
  return kOk;
}

#else

Status configureThreads(int32_t threads, int32_t) { return threads == 1 ? kOk : kInvalidArgument; }
uintptr_t workerStackTop(int32_t) { return 0; }
int32_t workerMain(int32_t) { return kInvalidArgument; }
void stopThreads() {}

Status parallelFor(int32_t count, RangeTask task, void* context) {
  if (count > 0) {
    task(context, 0, count, 0);
    tasksRun[0] += count;
  }
  return kOk;
}

#endif

}  // namespace engine
}  // namespace adakv
