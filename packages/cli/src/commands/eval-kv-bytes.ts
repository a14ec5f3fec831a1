import { type Backend, type KvBytesReport, type KvBytesRow, type MethodName, type Model, evaluateKvBytes, formatBytes } from '@adakv/core';
import { writeFile } from 'node:fs/promises';
import type { CliIo } from '../io.js';
import { ProgressBar } from '../ui/progress.js';
import { lineChartSvg } from '../ui/svg-chart.js';
import { formatTable } from '../ui/table.js';

/** `1/8` for a unit fraction, else the number. */
export function fractionLabel(fraction: number): string {
  const inverse = 1 / fraction;
  return Math.abs(inverse - Math.round(inverse)) < 1e-9 ? `1/${Math.round(inverse)}` : String(Number(fraction.toPrecision(4)));
}

/** What `--kv-bytes` runs with. */
export interface KvBytesEvalSettings {
  readonly fractions: readonly number[];
  readonly segments: number[][];
  readonly prefill: number;
  readonly continuation: number;
  /** Both strategies' eviction method; absent: each its default (ada-snapkv, kvcompress). */
  readonly method?: MethodName;
  readonly window: number;
  readonly alpha: number;
  /** Joint and mixed keep the protected window in f32. */
  readonly fullPrecisionWindow?: boolean;
}

const pm = (mean: number, std: number, digits: number) => `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;

/** What a row kept: the format(s) and entries per KV head, e.g. `int4 × 64.0` or `int4 ×7, int8 ×1 × 58.3`. */
function keptLabel(row: KvBytesRow): string {
  const formats = Object.entries(row.formats);
  const which = formats.length === 1 ? formats[0]![0] : formats.map(([format, count]) => `${format} ×${count}`).join(', ');
  return `${which} × ${row.tokensPerHead.mean.toFixed(1)}`;
}

/** The table of a byte-budget report: one row per strategy and fraction. */
export function kvBytesReportTable(report: KvBytesReport): string {
  const full = report.settings.fullKvBytes;
  const rows = report.rows.map((r) =>
    r.fits
      ? [
          r.strategy,
          fractionLabel(r.fraction),
          `${formatBytes(r.kvBytes.mean)} (${((r.kvBytes.mean / full) * 100).toFixed(1)}%)`,
          pm(r.kl.mean, r.kl.std, 3),
          `${(r.agreement.mean * 100).toFixed(1)}%`,
          r.attentionL1.mean.toFixed(3),
          keptLabel(r),
        ]
      : [r.strategy, fractionLabel(r.fraction), `does not fit in ${formatBytes(r.budgetBytes)}`, '—', '—', '—', '—'],
  );
  return formatTable(['strategy', 'budget', 'KV bytes held (of full f32)', 'KL(full||ours)', 'top-1 agree', 'attn L1', 'format × tokens/head'], rows);
}

/** Two charts side by side in one SVG: KL and top-1 agreement against the KV bytes held, one line per strategy. */
export function kvBytesChartSvg(report: KvBytesReport): string {
  const strategies = [...new Set(report.rows.map((r) => r.strategy))];
  const series = (value: (row: KvBytesRow) => number) =>
    strategies.map((strategy) => ({
      name: strategy,
      points: report.rows.filter((r) => r.strategy === strategy && r.fits).map((r) => ({ x: r.kvBytes.mean / 1024, y: value(r) })),
    }));
  const xLabel = 'KV bytes held (KiB)';
  const panel = (svg: string, x: number) => svg.replace('<svg xmlns="http://www.w3.org/2000/svg" ', `<svg x="${x}" `);
  const kl = lineChartSvg(series((r) => r.kl.mean), { title: 'KL(full || budgeted) vs KV bytes', xLabel, yLabel: 'mean KL (nats)' });
  const agree = lineChartSvg(series((r) => r.agreement.mean), { title: 'top-1 agreement vs KV bytes', xLabel, yLabel: 'top-1 agreement' });
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="400" viewBox="0 0 1280 400">',
    panel(kl, 0),
    panel(agree, 640),
    '</svg>',
  ].join('\n');
}

/** The eviction methods of a report's header: one name, or which strategy evicted with which. */
export function evictionLabel(settings: KvBytesReport['settings']): string {
  return settings.evictionMethod === settings.method ? settings.method : `eviction ${settings.evictionMethod}, joint and mixed ${settings.method}`;
}

/** Runs the byte-budget evaluation with a progress bar on standard error. */
export async function runKvBytesEval(model: Model, backend: Backend, settings: KvBytesEvalSettings, io: CliIo): Promise<KvBytesReport> {
  const bar = new ProgressBar('Evaluating byte budgets', io.stderr);
  const report = await evaluateKvBytes({
    model,
    backend,
    segments: settings.segments,
    fractions: settings.fractions,
    prefill: settings.prefill,
    continuation: settings.continuation,
    ...(settings.method ? { method: settings.method } : {}),
    options: { window: settings.window, alpha: settings.alpha },
    ...(settings.fullPrecisionWindow ? { fullPrecisionWindow: true } : {}),
    onProgress: (done, total, label) => bar.update(done, total, label),
  });
  bar.done();
  return report;
}

/** Prints the report (table or JSON) and writes its two-panel chart when `svg` is given. */
export async function writeKvBytesReport(report: KvBytesReport, header: string, io: CliIo, json: boolean, svg: string | undefined): Promise<void> {
  if (json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`${header}\n\n${kvBytesReportTable(report)}\n`);
  if (!svg) return;
  await writeFile(svg, kvBytesChartSvg(report));
  if (!json) io.stdout.write(`wrote ${svg}\n`);
}
