import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Checks up front that `--svg FILE` can be written, so a typo in the path fails in a second rather
 * than after minutes of evaluation. System errors are reported by the CLI as one line, exit code 3.
 */
export async function checkWritableFile(file: string): Promise<void> {
  const path = resolve(file);
  const existing = await stat(path).catch(() => null);
  if (existing) {
    await access(path, constants.W_OK);
    if (existing.isDirectory()) throw Object.assign(new Error(`${path} is a folder`), { code: 'EISDIR', syscall: 'open', path: file });
    return;
  }
  await access(dirname(path), constants.W_OK);
}
