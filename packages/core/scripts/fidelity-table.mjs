// The README's fidelity table: `evaluateFidelity` at its default settings on stories15M (every method,
// budgets 24..96 tokens per head, 8 segments of burgess-busterbrown, 192 prefilled, 64 teacher-forced,
// window 16) as a markdown table on stdout; the full JSON report goes to the file named by the first
// argument, if any. Run `npx tsup` first (it imports the built package).
import { writeFileSync } from 'node:fs';
import { evaluateFidelity, methodNames } from '@adakv/core';
import { loadDefaultModel, tokenSegments } from '@adakv/core/node';
import { DEFAULT_CORPUS, gutenbergText } from './gutenberg.mjs';

const settings = { segments: 8, prefill: 192, continuation: 64, budgets: [24, 32, 48, 64, 96], options: { window: 16 } };
const model = await loadDefaultModel();
const segments = tokenSegments(model.tokenizer, gutenbergText(DEFAULT_CORPUS[0]), {
  count: settings.segments,
  length: settings.prefill + settings.continuation + 1,
});
const started = performance.now();
const report = await evaluateFidelity({
  model,
  segments,
  methods: methodNames,
  budgets: settings.budgets,
  prefill: settings.prefill,
  continuation: settings.continuation,
  options: settings.options,
  onProgress: (done, total, label) => process.stderr.write(`\r${done}/${total} ${label}`.padEnd(60)),
});
const minutes = (performance.now() - started) / 60_000;
process.stderr.write(`\ndone in ${minutes.toFixed(1)} min\n`);
if (process.argv[2]) writeFileSync(process.argv[2], `${JSON.stringify(report, null, 2)}\n`);

const compressing = methodNames.filter((m) => m !== 'full');
const row = (method, budget) => report.rows.find((r) => r.method === method && r.budget === budget);
const cell = (r) => `${r.kl.mean.toFixed(3)} ± ${r.kl.std.toFixed(3)}, ${(r.agreement.mean * 100).toFixed(1)}%`;
const lines = [
  `| budget / head (KV bytes) | ${compressing.join(' | ')} |`,
  `| --- |${' --- |'.repeat(compressing.length)}`,
  ...settings.budgets.map((budget) => {
    const share = row('snapkv', budget).kvBytes / row('snapkv', budget).fullKvBytes;
    return `| ${budget} (${(share * 100).toFixed(0)}%) | ${compressing.map((m) => cell(row(m, budget))).join(' | ')} |`;
  }),
  '',
  '| budget | method | retained mass | attention L1 | ΔNLL |',
  '| --- | --- | --- | --- | --- |',
  ...settings.budgets.flatMap((budget) =>
    ['snapkv', 'ada-snapkv'].map((m) => {
      const r = row(m, budget);
      return `| ${budget} | ${m} | ${r.retainedMass.mean.toFixed(3)} | ${r.attentionL1.mean.toFixed(2)} | ${r.nllDelta.mean.toFixed(3)} |`;
    }),
  ),
  '',
  `full cache: KL ${row('full', settings.prefill).kl.mean}, agreement ${row('full', settings.prefill).agreement.mean}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
