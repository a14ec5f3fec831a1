export type GpuErrorCode = 'BACKEND_UNAVAILABLE' | 'DEVICE_LOST' | 'DEVICE_OUT_OF_MEMORY' | 'INVALID_ARGUMENT';

/** Every error this package throws on purpose; `code` matches @adakv/core's error codes. */
export class GpuError extends Error {
  readonly code: GpuErrorCode;
  constructor(code: GpuErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpuError';
    this.code = code;
  }
}

/** Bytes as MiB with one decimal, for messages about memory. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
