#!/usr/bin/env node
import { runCli } from './main.js';

process.on('SIGINT', () => process.exit(130));
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
