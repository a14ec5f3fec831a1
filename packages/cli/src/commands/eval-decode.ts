import { type Backend, type BudgetSpec, type DecodeFidelityReport, type MethodName, type Model, OptionError, evaluateDecodeEviction } from '@adakv/core';
import type { CliIo } from '../io.js';
import { ProgressBar } from '../ui/progress.js';
import { formatTable } from '../ui/table.js';

/** Methods `adakv eval --decode` compares by default: one of each way to evict while decoding. */
export const DEFAULT_DECODE_METHODS: MethodName[] = ['kvcompress', 'snapkv', 'ada-snapkv', 'criti-snapkv', 'ada-criti-snapkv', 'h2o', 'streamingllm', 'random'];

/** What `--decode` runs with, once the command's defaults for decode mode are applied. */
export interface DecodeEvalSettings {
  readonly methods: readonly MethodName[];
  readonly limits: readonly BudgetSpec[];
  readonly segments: number[][];
  readonly prefill: number;
  readonly continuation: number;
  readonly every: number;
  readonly window: number;
}

/** Cache limits are entries per KV head: a ratio of the prompt means nothing while the cache grows. */
function wholeLimits(limits: readonly BudgetSpec[]): number[] {
  return limits.map((limit) => {
    if (typeof limit === 'number') return limit;
    if ('tokensPerHead' in limit) return limit.tokensPerHead;
    throw new OptionError(`--decode takes cache limits in entries per KV head (e.g. 64), not ratios: got ${limit.ratio}.`);
  });
}

const pm = (mean: number, std: number, digits: number) => `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;

/** The table of a decode-time eviction report: one row per method and cache limit. */
export function decodeReportTable(report: DecodeFidelityReport): string {
  const rows = report.rows.map((r) => [
    r.method,
    String(r.limit),
    r.meanCacheTokens.mean.toFixed(1),
    pm(r.kl.mean, r.kl.std, 3),
    `${(r.agreement.mean * 100).toFixed(1)}%`,
    pm(r.nllDelta.mean, r.nllDelta.std, 3),
    r.evictedPerStep.mean.toFixed(2),
    r.evictionsPerStep.mean.toFixed(3),
  ]);
  return formatTable(['method', 'limit', 'mean held', 'KL(full||ours)', 'top-1 agree', 'ΔNLL', 'evicted/step', 'compressions/step'], rows);
}

/** Runs the decode-time eviction evaluation with a progress bar on standard error. */
export async function runDecodeEval(model: Model, backend: Backend, settings: DecodeEvalSettings, io: CliIo): Promise<DecodeFidelityReport> {
  const bar = new ProgressBar('Evaluating decode-time eviction', io.stderr);
  const report = await evaluateDecodeEviction({
    model,
    segments: settings.segments,
    methods: settings.methods,
    limits: wholeLimits(settings.limits),
    prefill: settings.prefill,
    continuation: settings.continuation,
    every: settings.every,
    options: { window: settings.window },
    backend,
    onProgress: (done, total, label) => bar.update(done, total, label),
  });
  bar.done();
  return report;
}
