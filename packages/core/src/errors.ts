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
  | 'MODEL_DOWNLOAD'
  | 'DEVICE_LOST'
  | 'DEVICE_OUT_OF_MEMORY'
  | 'BACKEND_UNAVAILABLE';

/** The base of every error adakv throws on purpose. */
export class AdakvError extends Error {
  /** What went wrong, as a stable code to switch on. */
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

/** A method name that is not registered; the message lists the known ones. */
export class UnknownMethodError extends AdakvError {
  constructor(name: string, known: readonly string[]) {
    super('UNKNOWN_METHOD', `Unknown method "${name}". Known methods: ${known.join(', ')}.`);
  }
}

/** A model or tokenizer file that is truncated, of a foreign format, or inconsistent with itself. */
export class ModelFormatError extends AdakvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_FORMAT', message, options);
  }
}

/** A model file whose bytes do not match the hash it must have (truncated or tampered download). */
export class ModelIntegrityError extends AdakvError {
  constructor(message: string) {
    super('MODEL_INTEGRITY', message);
  }
}

/** A position at or beyond the model's context length. */
export class ContextOverflowError extends AdakvError {
  constructor(message: string) {
    super('CONTEXT_OVERFLOW', message);
  }
}

/** A block pool with no free blocks left (and no room to grow): compact or release sequences first. */
export class PoolExhaustedError extends AdakvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('POOL_EXHAUSTED', message, options);
  }
}

/** A store, pool or sequence used after it was disposed or removed. */
export class InvalidHandleError extends AdakvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_HANDLE', message, options);
  }
}

/** A model that had to be downloaded and could not be (no network, registry unreachable). */
export class ModelDownloadError extends AdakvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_DOWNLOAD', message, options);
  }
}
