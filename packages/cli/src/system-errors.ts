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
  if (error instanceof DescribedError) return { message: error.message, exitCode: error.exitCode };
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

/** A failure already put in one line for the user, with the exit code it ends the command with. */
export class DescribedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DescribedError';
  }
}

/**
 * Why a server could not listen on `host`:`port`, as one line naming the flag to change, or null
 * for a failure that is not about the address (a bug). All of these are usage errors (exit 2):
 * the host or port the user gave cannot be used here.
 */
export function describeListenError(error: unknown, host: string, port: number): DescribedError | null {
  if (!(error instanceof Error)) return null;
  const { code } = error as NodeJS.ErrnoException;
  const where = `port ${port} on ${host}`;
  const message = (() => {
    switch (code) {
      case 'EADDRINUSE':
        return `${where} is already in use; pick another with --port (0 = any free port).`;
      case 'EACCES':
        return `${where} needs privileges this user does not have (EACCES); pick a port above 1023 with --port.`;
      case 'EADDRNOTAVAIL':
        return `${host} is not an address of this machine (EADDRNOTAVAIL); pick one it has with --host, e.g. 127.0.0.1 or 0.0.0.0.`;
      case 'EAFNOSUPPORT':
        return `${host} is of an address family this machine does not support (EAFNOSUPPORT); pick another with --host, e.g. 127.0.0.1.`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
      case 'EAI_FAIL':
      case 'EAI_NONAME':
      case 'ENODATA':
        return `host "${host}" cannot be resolved (${code}); give an IP address or a name this machine resolves with --host, e.g. 127.0.0.1.`;
      default:
        return null;
    }
  })();
  return message === null ? null : new DescribedError(message, ExitCode.usage, { cause: error });
}
