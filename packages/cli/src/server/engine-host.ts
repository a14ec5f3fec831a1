import type { MessagePort } from 'node:worker_threads';
import { type Backend, type CompletionHandle, type ForwardPass, type GeneratedTokenEvent, type Model, Scheduler, type TextTokenizer } from '@adakv/core';
import { chatPromptTokens, chatTemplateKind } from './chat-prompt.js';
import {
  type ChoiceResult,
  type EngineInfo,
  type EngineSettings,
  type EngineState,
  type FromEngine,
  type JobSpec,
  type LogprobEntry,
  type SequenceParams,
  type TokenLogprob,
  type ToEngine,
  choiceSeed,
  epochNow,
  toWireError,
} from './engine-protocol.js';
import { StopMatcher } from './stop-matcher.js';

export interface EngineHostOptions extends EngineSettings {
  readonly model: Model & { readonly tokenizer: TextTokenizer };
  readonly backend: Backend;
  /** Dispose the backend with the engine (false: it stays its owner's). */
  readonly ownBackend: boolean;
  /** Why `auto` fell back, when it did. */
  readonly notice: string | null;
}

interface Job {
  readonly handles: CompletionHandle[];
  open: number;
  /** Refused at submission: its choices were cancelled and say nothing more. */
  refused: boolean;
}

/** Decode steps between a sequence's evictions (the scheduler's default, stated so the server can check `max_cache_tokens`). */
const EVICT_EVERY = 16;
/** The scheduler's default seed: choice 0 of a request without a seed samples as before. */
const DEFAULT_SEED = 42;

/**
 * The backend, with the start and end of the latest prefill recorded. The scheduler admits one
 * sequence at a time (prefill, compression, then its first token), so when a sequence's first token
 * arrives the latest prefill was its own: that gives its queue time and its prefill time.
 */
function timedBackend(backend: Backend, latest: { start: number; end: number }): Backend {
  const timedPass = (pass: ForwardPass): ForwardPass =>
    new Proxy(pass, {
      get(target, property) {
        if (property === 'prefill') {
          return async (...args: Parameters<ForwardPass['prefill']>) => {
            latest.start = epochNow();
            try {
              return await target.prefill(...args);
            } finally {
              latest.end = epochNow();
            }
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(backend, {
    get(target, property) {
      if (property === 'forwardPass') return (model: Model) => timedPass(target.forwardPass(model));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** OpenAI's `frequency_penalty`, `presence_penalty` and `logit_bias` as a logits processor; undefined when all are off. */
export function logitsProcessor(params: SequenceParams): ((logits: Float32Array, generated: readonly number[]) => void) | undefined {
  const frequency = params.frequencyPenalty ?? 0;
  const presence = params.presencePenalty ?? 0;
  const bias = params.logitBias ?? [];
  if (frequency === 0 && presence === 0 && bias.length === 0) return undefined;
  return (logits, generated) => {
    for (const [token, value] of bias) logits[token] = logits[token]! + value;
    if (frequency === 0 && presence === 0) return;
    const counts = new Map<number, number>();
    for (const token of generated) counts.set(token, (counts.get(token) ?? 0) + 1);
    for (const [token, count] of counts) logits[token] = logits[token]! - (count * frequency + presence);
  };
}

const utf8 = new TextDecoder('utf-8');

/**
 * A choice's log-probabilities, released in step with its text: an entry goes out once text from its
 * token onwards has been shown, so an entry never runs ahead of a stop string that removes its text.
 */
class LogprobTrail {
  readonly released: LogprobEntry[] = [];
  private readonly pending: LogprobEntry[] = [];

  constructor(
    private readonly tokenizer: TextTokenizer,
    private previous: number,
    /** Alternatives to report per token. */
    readonly top: number,
  ) {}

  private describe(token: number, logprob: number): TokenLogprob {
    const bytes = this.tokenizer.decodePiece(this.previous, token);
    return { token: utf8.decode(bytes), bytes: [...bytes], logprob };
  }

  add(event: GeneratedTokenEvent, offset: number): void {
    const alternatives = (event.topLogprobs ?? []).slice(0, this.top).map((t) => this.describe(t.token, t.logprob));
    this.pending.push({ ...this.describe(event.token, event.logprob ?? Number.NaN), offset, top: alternatives });
    this.previous = event.token;
  }

  /** The entries whose text starts before `shown` characters; with `final`, the rest are dropped. */
  release(shown: number, final: boolean): LogprobEntry[] {
    let count = 0;
    while (count < this.pending.length && this.pending[count]!.offset < shown) count++;
    const out = this.pending.splice(0, count);
    if (final) this.pending.length = 0;
    this.released.push(...out);
    return out;
  }
}

/**
 * The engine: owns the model, the backend and the scheduler, and answers the HTTP thread's messages
 * on `port` (submit, cancel, inspect, close, dispose) with tokens, results and its state after every
 * step. It runs in a worker thread (`engine-worker.ts`), or on the calling thread over a
 * `MessageChannel` when given a model object.
 */
export function serveEngine(port: MessagePort, options: EngineHostOptions): void {
  const { model, backend } = options;
  const latestPrefill = { start: 0, end: 0 };
  const post = (message: FromEngine) => port.postMessage(message);
  const scheduler = new Scheduler(model, timedBackend(backend, latestPrefill), {
    poolBlocks: options.poolBlocks,
    blockSize: options.blockSize,
    maxBatch: options.maxBatch,
    ...(options.kvFormat === undefined ? {} : { kvFormat: options.kvFormat }),
    evictEvery: EVICT_EVERY,
    onStep: () => post({ type: 'state', state: state() }),
  });
  const pool = scheduler.pool;
  /** Each running job's handles (one per choice) and how many have not settled yet. */
  const jobs = new Map<number, Job>();

  const state = (): EngineState => {
    const stats: { usedBlocks: number; freeBlocks: number; heldBytes?: number } = pool.stats();
    return {
      running: scheduler.runningCount,
      queued: scheduler.queuedCount,
      usedBlocks: stats.usedBlocks,
      freeBlocks: stats.freeBlocks,
      // a block holds K and V (f32) of blockSize tokens of one head, when the pool does not say
      heldBytes: stats.heldBytes ?? stats.usedBlocks * pool.blockSize * scheduler.geometry.headDim * 2 * 4,
      totals: { ...scheduler.totals },
      lastStep: scheduler.lastStep,
      at: epochNow(),
    };
  };

  /** The last token of a prompt: what the text of the first generated token follows. */
  const lastPromptToken = (prompt: string | readonly number[]): number =>
    typeof prompt === 'string' ? model.tokenizer.encode(prompt, { maxTokens: model.config.contextLength }).at(-1)! : prompt[prompt.length - 1]!;

  /** Submits one choice of a prompt (text, encoded by the scheduler, or token ids); its tokens, timing and result go to the HTTP thread. */
  const startChoice = (job: number, entry: Job, spec: JobSpec, prompt: string | readonly number[], choice: number, index: number) => {
    const { params } = spec;
    const matcher = new StopMatcher(spec.stop);
    const logprobs = params.logprobs === undefined ? null : new LogprobTrail(model.tokenizer, lastPromptToken(prompt), params.logprobs);
    let received = 0; // characters the scheduler has given so far
    let emitted = '';
    let first = true;
    const processor = logitsProcessor(params);
    const handle = scheduler.submit({
      prompt,
      maxTokens: params.maxTokens,
      seed: choiceSeed(params.seed ?? DEFAULT_SEED, index),
      ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
      ...(params.topP === undefined ? {} : { topP: params.topP }),
      ...(params.method === undefined ? {} : { method: params.method }),
      ...(params.maxCacheTokens === undefined ? {} : { maxCacheTokens: params.maxCacheTokens }),
      ...(params.maxKvBytes === undefined ? {} : { maxKvBytes: params.maxKvBytes }),
      ...(params.compressionRatio === undefined ? {} : { compressionRatio: params.compressionRatio }),
      ...(params.protectedWindow === undefined ? {} : { protectedWindow: params.protectedWindow }),
      // the chosen token's log-probability comes with the alternatives: ask for one to get it alone
      ...(logprobs ? { logprobs: Math.max(1, logprobs.top) } : {}),
      ...(processor ? { logitsProcessor: processor } : {}),
      onToken: (event) => {
        if (first) {
          first = false;
          const { start, end } = latestPrefill;
          post({ type: 'first', job, choice, at: epochNow(), queueMs: Math.max(0, start - spec.receivedAt), prefillMs: end - start });
          post({ type: 'state', state: state() }); // admitted: its blocks show before its first token does
        }
        logprobs?.add(event, received);
        received += event.text.length;
        if (matcher.hasStopped) return;
        const out = matcher.push(event.text);
        if (out.stopped) handle.cancel(); // the scheduler drops it before its next decode step
        emitted += out.text;
        const released = logprobs?.release(emitted.length, out.stopped);
        if (spec.stream) post({ type: 'token', job, choice, text: out.text, ...(released?.length ? { logprobs: released } : {}) });
      },
    });
    entry.handles.push(handle);
    entry.open++;
    const settled = () => {
      if (--entry.open === 0 && jobs.get(job) === entry) jobs.delete(job);
    };
    handle.result.then(
      (result) => {
        settled();
        if (entry.refused) return;
        // what came after the last token (bytes the text decoder held) goes through the matcher too
        let tail = '';
        if (!matcher.hasStopped) {
          const out = matcher.push(result.text.slice(received));
          tail = out.text + matcher.flush();
        }
        const tailLogprobs = logprobs?.release(Number.POSITIVE_INFINITY, true) ?? [];
        const answer: ChoiceResult = {
          text: emitted + tail,
          tail,
          finishReason: matcher.hasStopped ? 'stop' : result.finishReason,
          logprobs: logprobs ? logprobs.released : null,
          tailLogprobs,
          promptTokens: result.promptTokens.length,
          completionTokens: result.tokens.length,
          evictedTokens: result.evictedTokens,
          peakKvBytes: result.peakKvBytes,
          preemptions: result.preemptions,
        };
        post({ type: 'done', job, choice, result: answer });
        post({ type: 'state', state: state() });
      },
      (error: unknown) => {
        settled();
        if (entry.refused) return;
        post({ type: 'failed', job, choice, error: toWireError(error) });
        post({ type: 'state', state: state() });
      },
    );
  };

  const submit = (job: number, spec: JobSpec) => {
    const entry: Job = { handles: [], open: 0, refused: false };
    try {
      const prompts = spec.input.kind === 'chat' ? [chatPromptTokens(model, spec.input.messages)] : spec.input.prompts;
      jobs.set(job, entry);
      prompts.forEach((prompt, p) => {
        for (let i = 0; i < spec.n; i++) startChoice(job, entry, spec, prompt, p * spec.n + i, i);
      });
    } catch (error) {
      // refused as a whole: the choices already queued go away without a word
      entry.refused = true;
      jobs.delete(job);
      for (const handle of entry.handles) handle.cancel();
      post({ type: 'rejected', job, error: toWireError(error) });
    }
    post({ type: 'state', state: state() });
  };

  port.on('message', (message: ToEngine) => {
    switch (message.type) {
      case 'submit':
        submit(message.job, message);
        break;
      case 'cancel':
        for (const handle of jobs.get(message.job)?.handles ?? []) handle.cancel();
        break;
      case 'inspect': {
        let poolError: string | null = null;
        try {
          pool.check();
        } catch (error) {
          poolError = error instanceof Error ? error.message : String(error);
        }
        post({ type: 'inspection', id: message.id, state: state(), poolError });
        break;
      }
      case 'close':
        void scheduler.close({ drain: message.drain }).then(() => {
          post({ type: 'state', state: state() });
          post({ type: 'closed' });
        });
        break;
      case 'dispose':
        void scheduler.close({ drain: false }).then(() => {
          pool.dispose();
          if (options.ownBackend) backend.dispose();
          post({ type: 'disposed' });
        });
        break;
    }
  });

  const info: EngineInfo = {
    contextLength: model.config.contextLength,
    vocabSize: model.config.vocabSize,
    backend: backend.description,
    notice: options.notice,
    poolBlocks: pool.capacity,
    blockSize: pool.blockSize,
    evictEvery: EVICT_EVERY,
    chatTemplate: chatTemplateKind(model),
  };
  post({ type: 'ready', info, state: state() });
}
