import { AdakvError, type AdakvErrorCode } from '@adakv/core';
import type { ChoiceResult, EngineInfo, EngineState, FromEngine, JobSpec, LogprobEntry, ToEngine, WireError } from './engine-protocol.js';

/** How the HTTP thread reaches the engine: a worker thread, or a `MessageChannel` to one on this thread. */
export interface EngineTransport {
  postMessage(message: ToEngine): void;
  onMessage(listener: (message: FromEngine) => void): void;
  /** Called once if the engine's thread ends before it was disposed (a crash). */
  onCrash(listener: (error: Error) => void): void;
  /** Ends the engine's thread (and its port). */
  terminate(): Promise<void>;
}

export type EngineStatus = 'loading' | 'ready' | 'failed' | 'stopped';

/** What a job tells its requester as it runs. */
export interface JobListener {
  /** A choice's first token was sampled (`at` in epoch ms); queue and prefill times in ms. */
  onFirst?(event: { choice: number; at: number; queueMs: number; prefillMs: number }): void;
  /** Text of a choice, as it streams (only for `stream` jobs; may be empty), with its tokens' log-probabilities when asked for. */
  onToken?(choice: number, text: string, logprobs?: readonly LogprobEntry[]): void;
  /** A choice finished. */
  onChoiceDone?(choice: number, result: ChoiceResult): void;
}

export interface JobHandle {
  /** Every choice's result in index order; rejects with a `JobFailure` (for a failed choice, the others are cancelled). */
  readonly done: Promise<ChoiceResult[]>;
  /** Cancels every choice (their blocks go back to the pool). */
  cancel(): void;
}

interface PendingJob {
  readonly listener: JobListener;
  readonly results: (ChoiceResult | undefined)[];
  remaining: number;
  readonly resolve: (results: ChoiceResult[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Why a job failed: refused when submitted (its own mistake, or too big for the pool), or failed while it ran. */
export class JobFailure extends Error {
  constructor(
    readonly error: Error,
    readonly phase: 'submit' | 'run',
  ) {
    super(error.message);
    this.name = 'JobFailure';
  }
}

/** An error that crossed from the engine, rebuilt: an `AdakvError` keeps its code (for the status and exit code it maps to). */
export function fromWireError(wire: WireError): Error {
  const error = wire.adakv && wire.code ? new AdakvError(wire.code as AdakvErrorCode, wire.message) : Object.assign(new Error(wire.message), { code: wire.code });
  error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  return error;
}

const EMPTY_STATE: EngineState = {
  running: 0,
  queued: 0,
  usedBlocks: 0,
  freeBlocks: 0,
  heldBytes: 0,
  totals: { steps: 0, completed: 0, cancelled: 0, failed: 0, preemptions: 0, generatedTokens: 0, evictedTokens: 0, decodeMs: 0, evictionMs: 0, scheduleMs: 0, prefillMs: 0 },
  lastStep: null,
  at: 0,
};

/**
 * The HTTP thread's side of the engine: submits jobs and routes their tokens and results back, and
 * keeps the engine's latest state (sent after every step), so /health and /metrics answer at once
 * without waiting for the engine to finish a step.
 */
export class EngineClient {
  status: EngineStatus = 'loading';
  info: EngineInfo | null = null;
  /** The engine's state after its latest step (or submission). */
  state: EngineState = EMPTY_STATE;
  /** Resolves when the model is loaded; rejects with the reason it could not be. */
  readonly ready: Promise<EngineInfo>;
  /** Resolves with the reason if the engine stops unexpectedly (never rejects). */
  readonly crashed: Promise<Error>;
  private readonly jobs = new Map<number, PendingJob>();
  private readonly inspections = new Map<number, (value: { state: EngineState; poolError: string | null }) => void>();
  private readonly stateListeners: ((state: EngineState) => void)[] = [];
  private closedWaiters: (() => void)[] = [];
  private disposedWaiter: (() => void) | null = null;
  private nextJob = 1;
  private nextInspection = 1;
  private sequences = 0;
  private crash: Error | null = null;

  constructor(private readonly transport: EngineTransport) {
    let loaded!: { resolve: (info: EngineInfo) => void; reject: (error: unknown) => void };
    this.ready = new Promise((resolve, reject) => (loaded = { resolve, reject }));
    this.ready.catch(() => undefined);
    let crashed!: (error: Error) => void;
    this.crashed = new Promise((resolve) => (crashed = resolve));
    transport.onMessage((message) => this.receive(message, loaded));
    transport.onCrash((error) => {
      if (this.status === 'stopped' || this.status === 'failed' || this.crash) return;
      this.crash = error;
      const wasLoading = this.status === 'loading';
      this.status = 'failed';
      if (wasLoading) loaded.reject(error);
      for (const job of this.jobs.values()) job.reject(new JobFailure(error, 'run'));
      this.jobs.clear();
      this.sequences = 0;
      for (const waiter of this.closedWaiters) waiter();
      this.closedWaiters = [];
      this.disposedWaiter?.();
      crashed(error);
    });
  }

  /** Sequences submitted and not yet finished (every choice of every job). */
  get pendingSequences(): number {
    return this.sequences;
  }

  /** Called with every state the engine sends (after each step). */
  onState(listener: (state: EngineState) => void): void {
    this.stateListeners.push(listener);
  }

  submit(spec: JobSpec, listener: JobListener = {}): JobHandle {
    const job = this.nextJob++;
    const count = (spec.input.kind === 'chat' ? 1 : spec.input.prompts.length) * spec.n;
    const done = new Promise<ChoiceResult[]>((resolve, reject) => {
      if (this.crash) return reject(new JobFailure(this.crash, 'run'));
      this.jobs.set(job, { listener, results: new Array(count), remaining: count, resolve, reject });
      this.sequences += count;
      this.transport.postMessage({ type: 'submit', job, ...spec });
    });
    return { done, cancel: () => this.jobs.has(job) && this.transport.postMessage({ type: 'cancel', job }) };
  }

  /** The engine's state taken now (at its next step boundary), with the pool's consistency check. */
  inspect(): Promise<{ state: EngineState; poolError: string | null }> {
    if (this.crash) return Promise.reject(this.crash);
    const id = this.nextInspection++;
    return new Promise((resolve) => {
      this.inspections.set(id, resolve);
      this.transport.postMessage({ type: 'inspect', id });
    });
  }

  /** Stops taking jobs; `drain` finishes the running ones, otherwise cancels them. Resolves when none is left. */
  close(drain: boolean): Promise<void> {
    if (this.crash || this.status === 'stopped') return Promise.resolve();
    return new Promise((resolve) => {
      this.closedWaiters.push(resolve);
      this.transport.postMessage({ type: 'close', drain });
    });
  }

  /** Cancels what is left, frees the pool (and the backend the engine started), and ends the engine's thread. */
  async dispose(): Promise<void> {
    if (this.status === 'stopped') return;
    if (!this.crash && this.status === 'ready') {
      await new Promise<void>((resolve) => {
        this.disposedWaiter = resolve;
        this.transport.postMessage({ type: 'dispose' });
      });
    }
    this.status = 'stopped';
    await this.transport.terminate();
  }

  private finishJob(job: number): void {
    const pending = this.jobs.get(job);
    if (!pending) return;
    this.jobs.delete(job);
    this.sequences -= pending.results.length;
  }

  private receive(message: FromEngine, loaded: { resolve: (info: EngineInfo) => void; reject: (error: unknown) => void }): void {
    switch (message.type) {
      case 'ready':
        this.info = message.info;
        this.state = message.state;
        this.status = 'ready';
        loaded.resolve(message.info);
        break;
      case 'load-failed':
        this.status = 'failed';
        loaded.reject(fromWireError(message.error));
        break;
      case 'state':
        this.state = message.state;
        for (const listener of this.stateListeners) listener(message.state);
        break;
      case 'rejected': {
        const pending = this.jobs.get(message.job);
        this.finishJob(message.job);
        pending?.reject(new JobFailure(fromWireError(message.error), 'submit'));
        break;
      }
      case 'first':
        this.jobs.get(message.job)?.listener.onFirst?.(message);
        break;
      case 'token':
        this.jobs.get(message.job)?.listener.onToken?.(message.choice, message.text, message.logprobs);
        break;
      case 'done': {
        const pending = this.jobs.get(message.job);
        if (!pending) break;
        pending.results[message.choice] = message.result;
        pending.listener.onChoiceDone?.(message.choice, message.result);
        if (--pending.remaining === 0) {
          this.finishJob(message.job);
          pending.resolve(pending.results as ChoiceResult[]);
        }
        break;
      }
      case 'failed': {
        // one choice failed: the request fails, and its other choices stop
        const pending = this.jobs.get(message.job);
        if (!pending) break;
        this.transport.postMessage({ type: 'cancel', job: message.job });
        this.finishJob(message.job);
        pending.reject(new JobFailure(fromWireError(message.error), 'run'));
        break;
      }
      case 'inspection':
        this.inspections.get(message.id)?.({ state: message.state, poolError: message.poolError });
        this.inspections.delete(message.id);
        break;
      case 'closed':
        for (const waiter of this.closedWaiters) waiter();
        this.closedWaiters = [];
        break;
      case 'disposed':
        this.disposedWaiter?.();
        this.disposedWaiter = null;
        break;
    }
  }
}
