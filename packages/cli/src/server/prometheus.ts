import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineClient } from './engine-client.js';
import type { EngineState } from './engine-protocol.js';

export type Outcome = 'completed' | 'cancelled' | 'failed' | 'rejected';
export type Endpoint = 'completions' | 'chat';

/** Tokens generated over the last 10 seconds of engine states, per second. */
export function tokensPerSecond(history: readonly { at: number; tokens: number }[], now: number): number {
  const recent = history.filter((h) => now - h.at <= 10_000);
  if (recent.length < 2) return 0;
  const span = (recent.at(-1)!.at - recent[0]!.at) / 1000;
  return span > 0 ? (recent.at(-1)!.tokens - recent[0]!.tokens) / span : 0;
}

/**
 * The server's `/metrics`, through prom-client, in its own registry (several servers can share a
 * process): the engine's gauges and counters (read from its latest state, so scraping never waits
 * for a step), request outcomes, latency, time to first token, queue and step time histograms, and
 * prom-client's process and Node metrics.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'outcome'>;
  private readonly dropped: Counter;
  private readonly duration: Histogram<'endpoint' | 'stream'>;
  private readonly firstToken: Histogram<'endpoint' | 'stream'>;
  private readonly queue: Histogram;
  private readonly prefill: Histogram;
  private readonly step: Histogram;
  private readonly history: { at: number; tokens: number }[] = [];
  private lastStep = 0;

  constructor(engine: EngineClient, options: { maxPending: number; isClosing: () => boolean }) {
    const registers = [this.registry];
    const state = () => engine.state;
    collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    /** A counter that mirrors one of the engine's running totals. */
    const total = (name: string, help: string, read: (s: EngineState) => number) => {
      let seen = 0;
      return new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read(state());
          if (now > seen) this.inc(now - seen);
          seen = Math.max(seen, now);
        },
      });
    };
    gauge('adakv_active_sequences', 'Sequences being decoded.', () => state().running);
    gauge('adakv_queue_length', 'Sequences waiting for memory or a batch slot.', () => state().queued);
    gauge('adakv_pending_sequences', 'Sequences accepted over HTTP and not finished (running, queued, or on their way to the engine); more than --max-pending get 429.', () => engine.pendingSequences);
    gauge('adakv_max_pending', 'The --max-pending limit.', () => options.maxPending);
    new Gauge({
      name: 'adakv_pool_blocks',
      help: 'KV blocks of the shared pool.',
      labelNames: ['state'],
      registers,
      collect() {
        this.set({ state: 'used' }, state().usedBlocks);
        this.set({ state: 'free' }, state().freeBlocks);
      },
    });
    gauge('adakv_pool_utilization', 'Share of the pool in use, 0 to 1.', () => {
      const { usedBlocks, freeBlocks } = state();
      return usedBlocks + freeBlocks > 0 ? usedBlocks / (usedBlocks + freeBlocks) : 0;
    });
    gauge('adakv_pool_bytes', 'Bytes held by used KV blocks.', () => state().heldBytes);
    gauge('adakv_tokens_per_second', 'Generated tokens per second over the last 10 s.', () => Number(tokensPerSecond(this.history, performance.timeOrigin + performance.now()).toFixed(3)));
    gauge('adakv_ready', '1 when the model is loaded and the server takes requests (what /ready answers 200 to), else 0.', () =>
      engine.status === 'ready' && !options.isClosing() ? 1 : 0,
    );
    total('adakv_evicted_tokens_total', 'Cache entries evicted, all layers and heads, of finished sequences.', (s) => s.totals.evictedTokens);
    total('adakv_generated_tokens_total', 'Tokens generated.', (s) => s.totals.generatedTokens);
    total('adakv_preemptions_total', 'Sequences put back in the queue to free memory.', (s) => s.totals.preemptions);
    total('adakv_steps_total', 'Scheduler steps (one batched decode each).', (s) => s.totals.steps);
    this.requests = new Counter({ name: 'adakv_requests_total', help: 'Completion requests by outcome.', labelNames: ['outcome'], registers });
    for (const outcome of ['completed', 'cancelled', 'failed', 'rejected'] as const) this.requests.inc({ outcome }, 0);
    this.dropped = new Counter({
      name: 'adakv_dropped_connections_total',
      help: 'TCP connections closed on arrival because the connection limit was reached.',
      registers,
    });
    const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    this.duration = new Histogram({
      name: 'adakv_request_duration_seconds',
      help: 'Time from receiving a completion request to the end of its answer (completed requests).',
      labelNames: ['endpoint', 'stream'],
      buckets: seconds,
      registers,
    });
    this.firstToken = new Histogram({
      name: 'adakv_time_to_first_token_seconds',
      help: 'Time from receiving a completion request to its first generated token.',
      labelNames: ['endpoint', 'stream'],
      buckets: seconds,
      registers,
    });
    this.queue = new Histogram({
      name: 'adakv_queue_seconds',
      help: 'Time a sequence waited, from its request arriving to the start of its prefill.',
      buckets: seconds,
      registers,
    });
    this.prefill = new Histogram({ name: 'adakv_prefill_seconds', help: 'Prefill time of a sequence (its prompt through the model).', buckets: seconds, registers });
    this.step = new Histogram({
      name: 'adakv_step_duration_seconds',
      help: 'Time of one scheduler step: admission, prefills, one batched decode and eviction.',
      buckets: seconds,
      registers,
    });
    engine.onState((s) => this.observeState(s));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  request(outcome: Outcome): void {
    this.requests.inc({ outcome });
  }

  droppedConnection(): void {
    this.dropped.inc();
  }

  /** A request's first token, `seconds` after it arrived. */
  firstTokenAfter(endpoint: Endpoint, stream: boolean, seconds: number): void {
    this.firstToken.observe({ endpoint, stream: String(stream) }, seconds);
  }

  completedAfter(endpoint: Endpoint, stream: boolean, seconds: number): void {
    this.duration.observe({ endpoint, stream: String(stream) }, seconds);
  }

  admitted(queueMs: number, prefillMs: number): void {
    this.queue.observe(queueMs / 1000);
    this.prefill.observe(prefillMs / 1000);
  }

  private observeState(state: EngineState): void {
    this.history.push({ at: state.at, tokens: state.totals.generatedTokens });
    while (this.history.length > 2 && state.at - this.history[0]!.at > 10_000) this.history.shift();
    const step = state.lastStep;
    if (step && step.step > this.lastStep) {
      this.lastStep = step.step;
      this.step.observe((step.scheduleMs + step.prefillMs + step.decodeMs) / 1000);
    }
  }
}
