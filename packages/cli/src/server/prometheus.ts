import type { Scheduler } from '@adakv/core';

/** What /metrics shows of the pool. */
export interface PoolGauges {
  readonly usedBlocks: number;
  readonly freeBlocks: number;
  readonly heldBytes: number;
}

export interface ServerCounters {
  requests: { completed: number; cancelled: number; failed: number; rejected: number };
  /** Tokens generated in recent steps with their times, for a tokens/s gauge. */
  recent: { at: number; tokens: number }[];
  /** TCP connections closed on arrival because `maxConnections` were already open. */
  droppedConnections: number;
}

function metric(name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([labels, value]) => `${name}${labels} ${value}`)].join('\n');
}

/** Tokens per second over the last 10 seconds of steps. */
export function tokensPerSecond(counters: ServerCounters, now: number): number {
  const recent = counters.recent.filter((r) => now - r.at <= 10_000);
  if (recent.length < 2) return 0;
  const span = (now - recent[0]!.at) / 1000;
  return span > 0 ? recent.reduce((sum, r) => sum + r.tokens, 0) / span : 0;
}

/** The `/metrics` page in Prometheus text format 0.0.4. */
export function prometheusText(scheduler: Scheduler, pool: PoolGauges, counters: ServerCounters, now: number): string {
  const { requests } = counters;
  return [
    metric('adakv_active_sequences', 'gauge', 'Sequences being decoded.', [['', scheduler.runningCount]]),
    metric('adakv_queue_length', 'gauge', 'Requests waiting for memory or a batch slot.', [['', scheduler.queuedCount]]),
    metric('adakv_pool_blocks', 'gauge', 'KV blocks of the shared pool.', [
      ['{state="used"}', pool.usedBlocks],
      ['{state="free"}', pool.freeBlocks],
    ]),
    metric('adakv_pool_bytes', 'gauge', 'Bytes held by used KV blocks.', [['', pool.heldBytes]]),
    metric('adakv_evicted_tokens_total', 'counter', 'Cache entries evicted, all layers and heads, of finished sequences.', [
      ['', scheduler.totals.evictedTokens],
    ]),
    metric('adakv_generated_tokens_total', 'counter', 'Tokens generated.', [['', scheduler.totals.generatedTokens]]),
    metric('adakv_preemptions_total', 'counter', 'Sequences put back in the queue to free memory.', [['', scheduler.totals.preemptions]]),
    metric('adakv_tokens_per_second', 'gauge', 'Generated tokens per second over the last 10 s.', [
      ['', Number(tokensPerSecond(counters, now).toFixed(3))],
    ]),
    metric('adakv_requests_total', 'counter', 'Completion requests by outcome.', [
      ['{outcome="completed"}', requests.completed],
      ['{outcome="cancelled"}', requests.cancelled],
      ['{outcome="failed"}', requests.failed],
      ['{outcome="rejected"}', requests.rejected],
    ]),
    metric('adakv_dropped_connections_total', 'counter', 'TCP connections closed on arrival because the connection limit was reached.', [
      ['', counters.droppedConnections],
    ]),
    '',
  ].join('\n');
}
