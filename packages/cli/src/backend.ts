import { type Backend, type BackendChoice, chooseBackend } from '@adakv/core';
import type { CliIo } from './io.js';

/** Starts the `--backend` the user chose; a notice (why `auto` fell back to wasm) goes to stderr. */
export async function openBackend(choice: BackendChoice, io: CliIo): Promise<Backend> {
  const { backend, notice } = await chooseBackend(choice);
  if (notice) io.stderr.write(`${notice}\n`);
  return backend;
}
