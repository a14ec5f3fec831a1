import { type Backend, type BackendChoice, chooseBackend } from '@adakv/core';
import type { CliIo } from './io.js';

/** Starts the `--backend` the user chose (`--threads` for the wasm engine); a notice (why `auto` fell back to wasm) goes to stderr. */
export async function openBackend(choice: BackendChoice, io: CliIo, options: { threads?: number } = {}): Promise<Backend> {
  const { backend, notice } = await chooseBackend(choice, options.threads === undefined ? {} : { threads: options.threads });
  if (notice) io.stderr.write(`${notice}\n`);
  return backend;
}
