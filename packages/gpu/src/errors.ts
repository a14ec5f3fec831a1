/**
 * `POOL_EXHAUSTED`: a GpuKvPool with a fixed number of blocks has too few free for a request (nothing
 * was changed); `DEVICE_OUT_OF_MEMORY`: the device (or a growing pool's `maxLayerBytes`) has no room;
 * `INVALID_NUMBER`: data that must be finite is not (eviction scores from NaN keys or queries).
 */
export type GpuErrorCode = 'BACKEND_UNAVAILABLE' | 'DEVICE_LOST' | 'DEVICE_OUT_OF_MEMORY' | 'INVALID_ARGUMENT' | 'INVALID_NUMBER' | 'POOL_EXHAUSTED';

/** Every error this package throws on purpose; `code` matches @adakv/core's error codes. */
export class GpuError extends Error {
  /** What went wrong, as a stable code. */
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
