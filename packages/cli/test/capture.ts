import type { CliIo } from '../src/main.js';

/** An in-memory stdout/stderr pair for driving `runCli` in-process. */
export function captureIo(): CliIo & { out: () => string; err: () => string } {
  const chunks = { out: [] as string[], err: [] as string[] };
  const stream = (into: string[]) => ({ write: (text: string) => (into.push(String(text)), true), isTTY: false }) as unknown as CliIo['stdout'];
  return { stdout: stream(chunks.out), stderr: stream(chunks.err), out: () => chunks.out.join(''), err: () => chunks.err.join('') };
}
