export { createProgram } from './program.js';
export { runCli, type CliIo } from './main.js';
export { ExitCode } from './exit-codes.js';
export { DEFAULT_CORPUS, gutenbergText } from './corpus.js';
