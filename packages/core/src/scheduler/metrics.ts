/** What one scheduler step did, and the state it left. */
export interface StepMetrics {
  /** The step's number, from 1. */
  readonly step: number;
  /** Sequences running after the step. */
  readonly running: number;
  /** Requests waiting after the step. */
  readonly queued: number;
  /** Requests admitted (and prefilled) in the step. */
  readonly admitted: number;
  /** Sequences that finished in the step. */
  readonly finished: number;
  /** Sequences put back in the queue in the step to free blocks. */
  readonly preempted: number;
  /** Tokens generated in the step. */
  readonly generatedTokens: number;
  /** Pool blocks in use after the step. */
  readonly usedBlocks: number;
  /** Pool blocks free after the step. */
  readonly freeBlocks: number;
  /** Bookkeeping time: admission, pressure handling, finishing (prefill excluded). */
  readonly scheduleMs: number;
  /** Prefill time of the admitted requests. */
  readonly prefillMs: number;
  /** The batched decode step, eviction included. */
  readonly decodeMs: number;
  /** Of `decodeMs`: sampling what came back and decode-time eviction. */
  readonly evictionMs: number;
}

/** Totals since the scheduler started. */
export interface SchedulerTotals {
  /** Steps run. */
  steps: number;
  /** Requests that finished (length or stop). */
  completed: number;
  /** Requests cancelled. */
  cancelled: number;
  /** Requests that failed. */
  failed: number;
  /** Times a sequence was put back in the queue to free blocks. */
  preemptions: number;
  /** Tokens generated. */
  generatedTokens: number;
  /** Cache entries evicted, all layers and heads. */
  evictedTokens: number;
  /** Time in batched decode steps, eviction included. */
  decodeMs: number;
  /** Of `decodeMs`: sampling and decode-time eviction. */
  evictionMs: number;
  /** Bookkeeping time: admission, pressure handling, finishing. */
  scheduleMs: number;
  /** Time prefilling admitted requests. */
  prefillMs: number;
}
