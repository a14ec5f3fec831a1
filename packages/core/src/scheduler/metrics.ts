/** What one scheduler step did, and the state it left. */
export interface StepMetrics {
  readonly step: number;
  readonly running: number;
  readonly queued: number;
  readonly admitted: number;
  readonly finished: number;
  readonly preempted: number;
  readonly generatedTokens: number;
  readonly usedBlocks: number;
  readonly freeBlocks: number;
  /** Bookkeeping time: admission, pressure handling, finishing (prefill excluded). */
  readonly scheduleMs: number;
  readonly prefillMs: number;
  /** The batched decode step, eviction included. */
  readonly decodeMs: number;
  /** Of `decodeMs`: sampling what came back and decode-time eviction. */
  readonly evictionMs: number;
}

/** Totals since the scheduler started. */
export interface SchedulerTotals {
  steps: number;
  completed: number;
  cancelled: number;
  failed: number;
  preemptions: number;
  generatedTokens: number;
  evictedTokens: number;
  decodeMs: number;
  evictionMs: number;
  scheduleMs: number;
  prefillMs: number;
}
