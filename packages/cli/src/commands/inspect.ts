import { type CompressionPlan, DEMO_PROMPT, type MethodName, Generator, OptionError, cacheGeometry, concentration } from '@adakv/core';
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { useColor } from '../color.js';
import { methodOption, methodOptionFlags, modelFlags } from '../common-flags.js';
import { loadModelForCli } from '../load-model.js';
import { checkWritableFile } from '../output-file.js';
import type { CliIo } from '../io.js';
import { budget } from '../options.js';
import { type Grid, svgHeatmap, terminalHeatmap } from '../ui/heatmap.js';
import { stackSvg } from '../ui/svg-stack.js';

interface InspectFlags {
  method: MethodName;
  budget: number | { ratio: number };
  window: number;
  alpha: number;
  svg?: string;
  json: boolean;
  color?: boolean;
  model?: string;
  tokenizer?: string;
}

const grid = (values: number[][]): Grid => ({ values, rowLabel: (r) => `layer ${r}`, columnLabel: (c) => `h${c}` });

/** `adakv inspect`: how concentrated each head's attention is, and the budget each head gets. */
export function inspectCommand(io: CliIo): Command {
  const command = new Command('inspect')
    .description("Show each head's attention concentration and the budget the method gives it, as layers x heads heatmaps.")
    .argument('[prompt]', 'text to prefill (default: the story opening of `adakv run`)')
    .addOption(methodOption())
    .option('--budget <tokens|ratio>', 'cache per KV head, window included', budget, 48)
    .option('--svg <file>', 'also write both heatmaps as one SVG file')
    .option('--json', 'print the numbers as JSON')
    .option('--color', 'colour the heatmaps even when not on a terminal (as FORCE_COLOR=1 does)')
    .option('--no-color', 'plain shading characters only (as NO_COLOR=1 does)');
  modelFlags(methodOptionFlags(command));
  return command
    .addHelpText(
      'after',
      `
The first map is the share of each head's cache that holds 90% of its attention (low = concentrated,
cheap to compress); the second is how many entries each head keeps under the method. Colour appears on
a terminal only; NO_COLOR=1 (or --no-color) turns it off, FORCE_COLOR=1 (or --color) forces it.

Examples:
  adakv inspect
  adakv inspect "Tom had a red ball." --method ada-pyramidkv --budget 24 --svg heads.svg`,
    )
    .action(async (promptArgument: string | undefined, flags: InspectFlags) => {
      if (flags.svg) await checkWritableFile(flags.svg);
      const { model } = await loadModelForCli(flags, io);
      const geometry = cacheGeometry(model.config);
      const options = { window: flags.window, alpha: flags.alpha };
      let concentrationMap: number[][] = [];
      const generator = new Generator(model, {
        afterPrefill: async ({ store, observations, backend, outputProjection }) => {
          const plan = await backend.compress(store, observations, { method: flags.method, budget: flags.budget, options, outputProjection });
          // a prompt within the window leaves nothing to score, so there would be no budgets to show
          if (plan.skipped) throw new OptionError(`inspect has nothing to show: ${plan.skipped}; give a longer prompt or a smaller --window.`);
          concentrationMap = concentration(geometry, observations, flags.window).heads.map((heads) =>
            heads.map((h) => Math.round(h.fractionForTarget * 100)),
          );
          return plan;
        },
      });
      const { afterPrefill } = await generator.prefill(model.tokenizer.encode(promptArgument ?? DEMO_PROMPT));
      const plan = afterPrefill as CompressionPlan;
      const budgets = plan.layers.map((layer) => Array.from(layer.budgetPerHead));
      if (flags.json) {
        io.stdout.write(`${JSON.stringify({ method: plan.method, budget: plan.budget, cacheShareFor90PercentMass: concentrationMap, keptPerHead: budgets, kept: plan.achievedTotal, of: plan.originalTotal }, null, 2)}\n`);
      } else {
        const color = useColor(io.stdout, flags.color, io.env ?? process.env);
        io.stdout.write(`% of each head's cache holding 90% of its attention (lower = more concentrated)\n${terminalHeatmap(grid(concentrationMap), { color })}\n\n`);
        io.stdout.write(`entries kept per head by ${plan.method} at ${plan.budget} per head (${plan.achievedTotal} of ${plan.originalTotal} in all)\n${terminalHeatmap(grid(budgets), { color })}\n`);
      }
      if (flags.svg) {
        const svgs = [svgHeatmap(grid(concentrationMap), '% of cache for 90% of attention'), svgHeatmap(grid(budgets), `entries kept per head (${plan.method})`)];
        await writeFile(flags.svg, stackSvg(svgs));
        if (!flags.json) io.stdout.write(`wrote ${flags.svg}\n`);
      }
    });
}
