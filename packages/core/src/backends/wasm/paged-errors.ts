import { AllocatorError } from '@adakv/allocator-wasm';
import { AdakvError, InvalidHandleError, InvalidNumberError, ModelFormatError, PoolExhaustedError, ShapeError } from '../../errors.js';
import { translating } from '../translate-errors.js';

export function toCoreError(error: unknown): unknown {
  if (!(error instanceof AllocatorError)) return error;
  switch (error.code) {
    case 'POOL_EXHAUSTED':
    case 'OUT_OF_MEMORY':
      return new PoolExhaustedError(error.message, { cause: error });
    case 'INVALID_HANDLE':
      return new InvalidHandleError(error.message, { cause: error });
    case 'INVALID_NUMBER':
      return new InvalidNumberError(error.message);
    case 'INVALID_ARGUMENT':
    case 'INVALID_PLAN':
    case 'OUT_OF_RANGE':
      return new ShapeError(error.message);
    case 'UNSUPPORTED_TYPE':
    case 'MODEL_INCOMPLETE':
      return new ModelFormatError(error.message, { cause: error });
    default:
      return new AdakvError('BACKEND_UNAVAILABLE', `The WebAssembly allocator failed: ${error.message}`, { cause: error });
  }
}

/** Runs an allocator call, turning its AllocatorError into the matching core error. */
export const translated = translating(toCoreError);
