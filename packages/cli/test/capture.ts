import type { CliIo } from '../src/main.js';

/** One write to a captured stream, in the order the writes happened. */
export interface CapturedWrite {
  readonly stream: 'out' | 'err';
  readonly text: string;
}

/**
 * An in-memory stdout/stderr pair for driving `runCli` in-process. Not a terminal unless `tty`; colour
 * is decided by `env` (empty by default, so the test run's own NO_COLOR or FORCE_COLOR change nothing);
 * `writes` keeps both streams' writes in order, as a terminal shows them.
 */
export function captureIo(
  options: { tty?: boolean; env?: Record<string, string | undefined>; stdin?: NodeJS.ReadableStream } = {},
): CliIo & { out: () => string; err: () => string; writes: CapturedWrite[] } {
  const writes: CapturedWrite[] = [];
  const stream = (name: 'out' | 'err') =>
    ({ write: (text: string) => (writes.push({ stream: name, text: String(text) }), true), isTTY: options.tty ?? false, columns: 80 }) as unknown as CliIo['stdout'];
  const joined = (name: 'out' | 'err') => () => writes.filter((w) => w.stream === name).map((w) => w.text).join('');
  return {
    stdout: stream('out'),
    stderr: stream('err'),
    env: options.env ?? {},
    ...(options.stdin ? { stdin: options.stdin } : {}),
    out: joined('out'),
    err: joined('err'),
    writes,
  };
}
