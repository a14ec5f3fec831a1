import { Command } from 'commander';

/** Builds the `adakv` command tree; exported so tests drive it without spawning a process. */
export function createProgram(): Command {
  return new Command('adakv')
    .description('Adaptive per-head KV-cache compression (Ada-KV) for JavaScript.')
    .version('0.1.0')
    .showHelpAfterError();
}
