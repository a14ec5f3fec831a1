import { ExitCode } from './exit-codes.js';

const RESOURCE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'ENOMEM']);
const FILE_CODES: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'name too long',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENOMEM: 'out of memory',
};

/**
 * A file-system failure the user can fix (a path that does not exist, a folder without write
 * permission, a full disk), as one line and an exit code; null for anything else, which is a bug.
 */
export function describeSystemError(error: unknown): { message: string; exitCode: number } | null {
  if (!(error instanceof Error)) return null;
  const { code, path, syscall } = error as NodeJS.ErrnoException;
  if (!code || !(code in FILE_CODES)) return null;
  const where = path ? ` ${path}` : '';
  const action = syscall ? `cannot ${syscall}${where}` : `failed${where}`;
  return {
    message: `${action}: ${FILE_CODES[code]} (${code}).`,
    exitCode: RESOURCE_CODES.has(code) ? ExitCode.resource : ExitCode.input,
  };
}
