import { Command } from 'commander';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import type { CliIo } from './main.js';

/** Builds the `adakv` command tree; exported so tests drive it without spawning a process. */
export function createProgram(io: CliIo = process): Command {
  const program = new Command('adakv')
    .description('Adaptive per-head KV-cache compression (Ada-KV) for JavaScript.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(runCommand(io));
  program.addCommand(serveCommand(io));
  return program;
}
