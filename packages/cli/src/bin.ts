#!/usr/bin/env node
import { enableRelaxedSimd } from '@adakv/core/node';
import { ExitCode } from './exit-codes.js';
import { runCli } from './main.js';

// The wasm engine's fused multiply-add builds (Node 20 runs them only behind a flag), before any module compiles.
enableRelaxedSimd();

// Ctrl-C: say so on its own line (a progress bar may be mid-line) and exit with the conventional 130.
process.on('SIGINT', () => {
  process.stderr.write('\nadakv: interrupted.\n');
  process.exit(ExitCode.interrupted);
});
// `adakv run | head`: the reader left, so stop quietly as other command-line tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(ExitCode.ok);
});
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
