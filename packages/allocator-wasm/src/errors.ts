/** Why an allocator call failed; stable strings callers can switch on. */
export type AllocatorErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_HANDLE'
  | 'POOL_EXHAUSTED'
  | 'OUT_OF_MEMORY'
  | 'INVALID_PLAN'
  | 'INVALID_NUMBER'
  | 'OUT_OF_RANGE'
  | 'INVARIANT_BROKEN'
  | 'UNSUPPORTED_TYPE'
  | 'MODEL_INCOMPLETE'
  | 'WORKER_FAILED'
  | 'WASM_ABORTED'
  | 'WASM_LOAD_FAILED';

/** Every error the allocator throws on purpose; `code` says what was wrong. */
export class AllocatorError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: AllocatorErrorCode;
  constructor(code: AllocatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AllocatorError';
    this.code = code;
  }
}

/** Negative status codes of the C ABI (src/cpp/status.h), in order from -1. */
const statusCodes: readonly AllocatorErrorCode[] = [
  'INVALID_ARGUMENT',
  'INVALID_HANDLE',
  'POOL_EXHAUSTED',
  'OUT_OF_MEMORY',
  'INVALID_PLAN',
  'INVALID_NUMBER',
  'OUT_OF_RANGE',
  'INVARIANT_BROKEN',
  'UNSUPPORTED_TYPE',
  'MODEL_INCOMPLETE',
  'WORKER_FAILED',
];

const hints: Record<string, string> = {
  INVALID_ARGUMENT: 'check sizes and options against the documented ranges',
  INVALID_HANDLE: 'the pool or sequence was released (or never existed); do not reuse it',
  POOL_EXHAUSTED: 'free blocks by compacting or removing sequences, or create the pool with more maxBlocks',
  OUT_OF_MEMORY: 'the WebAssembly heap cannot grow further (4 GiB at most); use a smaller pool',
  INVALID_PLAN: 'kept indices must be strictly ascending and inside [0, length) for every head',
  INVALID_NUMBER: 'scores must be finite',
  OUT_OF_RANGE: 'layer and head indices must lie inside the sequence shape',
  INVARIANT_BROKEN: 'the pool is inconsistent: this is a bug in @adakv/allocator-wasm, please report it',
  UNSUPPORTED_TYPE: 'tensor types are f32, f16, bf16, q8_0, q4_0, q4_K and q6_K (norms and RoPE tables f32)',
  MODEL_INCOMPLETE: 'upload every tensor of the model (WasmModel.create does) before running it',
  WORKER_FAILED: 'a worker thread of the engine trapped; dispose the Engine and load a new one',
};

/** Returns `status` when it is a success (>= 0), otherwise throws the matching AllocatorError. */
export function check(status: number, operation: string): number {
  if (status >= 0) return status;
  const code = statusCodes[-status - 1] ?? 'INVARIANT_BROKEN';
  throw new AllocatorError(code, `${operation} failed with ${code}: ${hints[code]}.`);
}

/** The code a negative status stands for. */
export function statusCode(status: number): AllocatorErrorCode {
  return statusCodes[-status - 1] ?? 'INVARIANT_BROKEN';
}
