/** Every error adakv throws on purpose is an AdakvError with a stable `code` users can switch on. */
export type AdakvErrorCode =
  | 'SHAPE_MISMATCH'
  | 'INVALID_NUMBER'
  | 'INVALID_BUDGET'
  | 'INVALID_OPTION'
  | 'UNKNOWN_METHOD'
  | 'POOL_EXHAUSTED'
  | 'INVALID_HANDLE'
  | 'MODEL_FORMAT'
  | 'MODEL_INTEGRITY'
  | 'CONTEXT_OVERFLOW'
  | 'DEVICE_LOST'
  | 'DEVICE_OUT_OF_MEMORY'
  | 'BACKEND_UNAVAILABLE';

export class AdakvError extends Error {
  readonly code: AdakvErrorCode;
  constructor(code: AdakvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Arrays whose sizes do not agree with the cache geometry or with each other. */
export class ShapeError extends AdakvError {
  constructor(message: string) {
    super('SHAPE_MISMATCH', message);
  }
}

/** NaN or Infinity where finite numbers are required. */
export class InvalidNumberError extends AdakvError {
  constructor(message: string) {
    super('INVALID_NUMBER', message);
  }
}

/** A budget that is not a positive integer token count or a ratio in (0, 1]. */
export class BudgetError extends AdakvError {
  constructor(message: string) {
    super('INVALID_BUDGET', message);
  }
}

/** An option outside its documented range (alpha, window, kernel size, ...). */
export class OptionError extends AdakvError {
  constructor(message: string) {
    super('INVALID_OPTION', message);
  }
}

export class UnknownMethodError extends AdakvError {
  constructor(name: string, known: readonly string[]) {
    super('UNKNOWN_METHOD', `Unknown method "${name}". Known methods: ${known.join(', ')}.`);
  }
}
