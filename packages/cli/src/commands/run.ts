import {
  type BackendChoice,
  type CompressionPlan,
  type KvFormat,
  Generator,
  type GenerateResult,
  type MethodName,
  type BytePlan,
  DEFAULT_BYTE_METHOD,
  DEMO_PROMPT,
  OptionError,
  describeBytePlan,
  formatBytes,
} from '@adakv/core';
import { Command } from 'commander';
import { tokenAgreement } from '../agreement.js';
import { openBackend } from '../backend.js';
import { backendOption, byteBudgetWindow, checkFullPrecisionWindow, fullPrecisionWindowOption, kvFormatOption, methodOption, methodOptionFlags, modelFlags, threadsOption } from '../common-flags.js';
import { loadModelForCli } from '../load-model.js';
import type { CliIo } from '../io.js';
import { budget, integer, kvBytes, number } from '../options.js';

import { type CacheSnapshot, LiveCacheView } from '../ui/live-cache.js';
import { ProgressBar } from '../ui/progress.js';
import { formatTable } from '../ui/table.js';

interface RunFlags {
  method: MethodName;
  budget: number | { ratio: number };
  alpha: number;
  window: number;
  steps: number;
  temperature: number;
  topP: number;
  seed: number;
  backend: BackendChoice;
  threads?: number;
  kvFormat?: KvFormat;
  kvBytes?: number | { fraction: number };
  fullPrecisionWindow?: boolean;
  maxCacheTokens?: number;
  evictEvery: number;
  model?: string;
  tokenizer?: string;
  compare: boolean;
  json: boolean;
  live: boolean;
}

/** What the live view draws of a generator's cache. */
function snapshot(generator: Generator, text: string): CacheSnapshot {
  const { layers, kvHeads } = generator.store.geometry;
  const lengths = Array.from({ length: layers }, (_, layer) => Array.from({ length: kvHeads }, (_, head) => generator.store.length(layer, head)));
  return { lengths, position: generator.position, evicted: generator.eviction?.evictedTokens ?? 0, text };
}

interface Outcome {
  result: GenerateResult;
  weights: { residentBytes: number; parameters: number; screenBytes?: number };
  bytes: number;
  plan: CompressionPlan | null;
  bytePlan: BytePlan | null;
  evictedDuringDecode: number;
}

/** `adakv run "PROMPT"`: generate with a compressed cache, streamed, then compare with the full cache. */
export function runCommand(io: CliIo): Command {
  const command = new Command('run')
    .description('Generate text with a compressed KV cache, streamed, then compare it with the full cache.')
    .argument('[prompt]', 'text to continue (default: a short story opening, long enough to compress)')
    .addOption(methodOption())
    .option('--budget <tokens|ratio>', 'cache kept per KV head after prefill, window included: tokens (48) or a share of the prompt (0.25, 25%)', budget, 48)
    .option('--steps <n>', 'tokens to generate', integer(1), 64)
    .option('--temperature <t>', '0 = greedy; higher = more random', number(0, 100), 0)
    .option('--top-p <p>', 'nucleus sampling threshold (with --temperature > 0)', number(0.01, 1), 0.9)
    .option('--seed <n>', 'sampling seed', integer(0), 42)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(kvFormatOption('the compressed run'))
    .option(
      '--kv-bytes <bytes|fraction>',
      "one byte budget for the prompt's K/V (768KiB, or 1/16 of its full f32 cache): the format (f32, f16, int8, int4; only --kv-format's if given) and the entries per head are chosen together, evicting with kvcompress unless --method names another",
      kvBytes,
    )
    .addOption(fullPrecisionWindowOption())
    .option('--max-cache-tokens <n>', 'decode-time eviction: keep each layer within this many entries per head', integer(2))
    .option('--evict-every <n>', 'decode steps between decode-time evictions', integer(1), 16)
    .option('--no-compare', 'skip the full-cache run')
    .option('--json', 'print one JSON object instead of text and a table')
    .option('--live', "draw each layer's KV cache on stderr as decoding goes (entries per head, what eviction took), the text at the end");
  modelFlags(methodOptionFlags(command));
  return command
    .addHelpText(
      'after',
      `
Examples:
  adakv run                      (a built-in story opening)
  adakv run "Once upon a time"
  adakv run "Once upon a time" --method snapkv --budget 25% --steps 32
  adakv run "Tom had a red ball." --temperature 0.8 --seed 7 --max-cache-tokens 64
  adakv run --kv-bytes 1/16      (a 16x smaller cache: eviction and precision chosen together)
  adakv run --kv-bytes 1/4 --full-precision-window   (the protected window kept in f32)
  adakv run --max-cache-tokens 48 --steps 128 --live   (watch the cache evict as it decodes)`,
    )
    .action(async (promptArgument: string | undefined, flags: RunFlags) => {
      const prompt = promptArgument ?? DEMO_PROMPT;
      const { model } = await loadModelForCli(flags, io);
      if (prompt.length === 0) throw new OptionError('The prompt is empty; give some text to continue.');
      // encoded once, up front: text that cannot fit the context is refused before anything is printed
      const promptTokens = model.tokenizer.encode(prompt, { maxTokens: model.config.contextLength });
      const sampling = { steps: flags.steps, temperature: flags.temperature, topP: flags.topP, seed: flags.seed };
      if (flags.kvBytes !== undefined && flags.maxCacheTokens !== undefined) {
        throw new OptionError('--kv-bytes plans the cache once after prefill; drop --max-cache-tokens (decode-time eviction counts tokens).');
      }
      checkFullPrecisionWindow(flags);
      // a byte budget evicts across the whole sequence (kvcompress) unless --method says otherwise
      const method = flags.kvBytes !== undefined && command.getOptionValueSource('method') === 'default' ? DEFAULT_BYTE_METHOD : flags.method;

      const backend = await openBackend(flags.backend, io, flags);
      const window = byteBudgetWindow(flags, command.getOptionValueSource('window') === 'default', backend.storeBlockSize);
      const options = { window, alpha: flags.alpha };
      // --live draws the cache on stderr as decoding goes; the text then comes whole at the end
      const live = flags.live && !flags.json ? new LiveCacheView(io.stderr) : null;
      const generate = async (compressed: boolean, onToken?: (text: string) => void): Promise<Outcome> => {
        let shown = '';
        // a prompt longer than one prefill chunk goes through in pieces: show how far it is
        const bar = new ProgressBar('Reading the prompt', io.stderr);
        const onPrefillProgress = ({ done, total }: { done: number; total: number }) => bar.update(done, total, `${done} of ${total} tokens`);
        const evicting = compressed && flags.maxCacheTokens !== undefined && flags.method !== 'full';
        const byBytes = compressed && flags.kvBytes !== undefined;
        // the prompt is echoed once prefill is over, before the streamed text: notices never land inside it
        let echoed = false;
        const echo = () => {
          if (echoed || !onToken) return;
          echoed = true;
          onToken(prompt);
        };
        const generator = new Generator(model, {
          backend,
          ...(byBytes
            ? {
                kvBytes: {
                  bytes: flags.kvBytes!,
                  method,
                  options,
                  ...(flags.kvFormat ? { formats: [flags.kvFormat] } : {}),
                  ...(flags.fullPrecisionWindow ? { fullPrecisionWindow: true } : {}),
                },
              }
            : {
                // the full-cache run stays f32: the reference the compressed run is compared with
                ...(compressed && flags.kvFormat ? { kvFormat: flags.kvFormat } : {}),
                ...(evicting ? { eviction: { method: flags.method, maxTokensPerHead: flags.maxCacheTokens!, every: flags.evictEvery, options } } : {}),
                afterPrefill: async ({ store, observations, outputProjection }) => {
                  const plan = compressed ? await backend.compress(store, observations, { method: flags.method, budget: flags.budget, options, outputProjection }) : null;
                  bar.done();
                  if (plan?.skipped && onToken) io.stderr.write(`note: not compressed after prefill: ${plan.skipped}.\n`);
                  echo();
                  return plan;
                },
              }),
        });
        try {
          const result = await generator
            .generate(promptTokens, {
              ...sampling,
              onPrefillProgress,
              onToken: ({ text }) => {
                bar.done();
                echo();
                onToken?.(text);
                if (live && compressed) live.update(snapshot(generator, (shown += text)));
              },
            })
            .finally(() => bar.done());
          live?.finish(snapshot(generator, shown));
          return {
            result,
            weights: generator.weights,
            bytes: generator.store.bytes(),
            plan: result.prefill.bytePlan?.plan ?? (result.prefill.afterPrefill as CompressionPlan | null) ?? null,
            bytePlan: result.prefill.bytePlan ?? null,
            evictedDuringDecode: generator.eviction?.evictedTokens ?? 0,
          };
        } finally {
          generator.store.dispose();
        }
      };

      /** A short unmeasured run first, so neither measured run pays for the engine's first, slower calls. */
      const warmUp = async () => {
        const generator = new Generator(model, { backend });
        try {
          const prompt = promptTokens.slice(0, 16);
          await generator.generate(prompt, { steps: Math.min(8, model.config.contextLength - prompt.length), stopAtEndOfText: false });
        } finally {
          generator.store.dispose();
        }
      };

      let ours: Outcome;
      let full: Outcome | null;
      try {
        await warmUp();
        ours = await generate(true, flags.json || live ? undefined : (text) => io.stdout.write(text));
        if (live) io.stdout.write(`${prompt}${ours.result.text}`);
        if (!flags.json) io.stdout.write('\n\n');
        full = flags.compare ? await generate(false) : null;
      } finally {
        backend.dispose();
      }
      const agreement = full ? tokenAgreement(ours.result.tokens, full.result.tokens) : null;

      if (flags.json) {
        io.stdout.write(
          `${JSON.stringify(
            {
              prompt,
              method,
              text: ours.result.text,
              tokens: ours.result.tokens,
              kvBytes: ours.bytes,
              kvFormat: ours.bytePlan?.format ?? flags.kvFormat ?? 'f32',
              bytePlan: ours.bytePlan
                ? {
                    budgetBytes: ours.bytePlan.bytes,
                    heldBytes: ours.bytePlan.heldBytes,
                    format: ours.bytePlan.format,
                    headFormats: ours.bytePlan.headFormats,
                    tokensPerHead: ours.bytePlan.tokensPerHead,
                    windowRowsInF32: ours.bytePlan.windowRows,
                    candidates: ours.bytePlan.candidates,
                  }
                : null,
              keptAfterPrefill: ours.plan ? { kept: ours.plan.achievedTotal, of: ours.plan.originalTotal } : null,
              compressionSkipped: ours.plan?.skipped ?? null,
              evictedDuringDecode: ours.evictedDuringDecode,
              backend: flags.backend,
              engine: backend.description,
              weightBytesPerParameter: ours.weights.residentBytes / ours.weights.parameters,
              classifierScreenBytes: ours.weights.screenBytes ?? 0,
              prefillTokensPerSecond: ours.result.prefillTokensPerSecond,
              decodeTokensPerSecond: ours.result.decodeTokensPerSecond,
              full: full
                ? {
                    text: full.result.text,
                    tokens: full.result.tokens,
                    kvBytes: full.bytes,
                    prefillTokensPerSecond: full.result.prefillTokensPerSecond,
                    decodeTokensPerSecond: full.result.decodeTokensPerSecond,
                  }
                : null,
              agreement,
            },
            null,
            2,
          )}\n`,
        );
        return;
      }
      const kept = (o: Outcome) => (o.plan && !o.plan.skipped ? `${o.plan.achievedTotal} / ${o.plan.originalTotal}` : 'all');
      const speed = (o: Outcome) => [o.result.prefillTokensPerSecond.toFixed(0), o.result.decodeTokensPerSecond.toFixed(1)];
      const sameAsFull = agreement ? `first ${agreement.firstDifference ?? ours.result.tokens.length} of ${ours.result.tokens.length}` : '-';
      const format = ours.bytePlan?.format ?? flags.kvFormat ?? 'f32';
      const label = `${method}${format !== 'f32' ? `, ${format}` : ''}${ours.bytePlan ? ` (${formatBytes(ours.bytePlan.bytes)} budget)` : ''}`;
      const rows = [[label, formatBytes(ours.bytes), kept(ours), sameAsFull, ...speed(ours)]];
      if (full) rows.push(['full cache', formatBytes(full.bytes), kept(full), '-', ...speed(full)]);
      const columns = ['cache', 'KV bytes', 'entries kept after prefill', 'tokens identical to full', 'prefill tok/s', 'decode tok/s'];
      io.stdout.write(`${formatTable(columns, rows)}\n`);
      if (ours.bytePlan) io.stdout.write(`byte plan: ${describeBytePlan(ours.bytePlan)}\n`);
      if (ours.bytePlan && ours.bytes > ours.bytePlan.heldBytes) {
        // the budget is the prompt's cache: say what decoding added on top of it
        io.stdout.write(
          `after decoding: ${formatBytes(ours.bytes)} (each new token's entries, and in int8/int4 heads the newest rows in f32 until their block fills)\n`,
        );
      }
      if (ours.evictedDuringDecode > 0) io.stdout.write(`evicted during decode: ${ours.evictedDuringDecode} entries\n`);
    });
}
