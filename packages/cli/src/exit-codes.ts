import type { AdakvErrorCode } from '@adakv/core';

/** Exit codes of the `adakv` command; documented in the CLI README. */
export const ExitCode = {
  /** Success. */
  ok: 0,
  /** A bug or an unexpected failure: the stack trace is printed. */
  internal: 1,
  /** Bad flags, arguments or option values. */
  usage: 2,
  /** A model, tokenizer, prompt, file or folder that cannot be used. */
  input: 3,
  /** Out of memory blocks, no GPU adapter, a lost device. */
  resource: 4,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

const BY_ERROR_CODE: Record<AdakvErrorCode, number> = {
  SHAPE_MISMATCH: ExitCode.input,
  INVALID_NUMBER: ExitCode.input,
  INVALID_BUDGET: ExitCode.usage,
  INVALID_OPTION: ExitCode.usage,
  UNKNOWN_METHOD: ExitCode.usage,
  POOL_EXHAUSTED: ExitCode.resource,
  INVALID_HANDLE: ExitCode.internal,
  MODEL_FORMAT: ExitCode.input,
  MODEL_INTEGRITY: ExitCode.input,
  MODEL_DOWNLOAD: ExitCode.resource,
  CONTEXT_OVERFLOW: ExitCode.input,
  DEVICE_LOST: ExitCode.resource,
  DEVICE_OUT_OF_MEMORY: ExitCode.resource,
  BACKEND_UNAVAILABLE: ExitCode.resource,
};

export function exitCodeFor(code: AdakvErrorCode): number {
  return BY_ERROR_CODE[code] ?? ExitCode.internal;
}
