import { AllocatorError } from './errors.js';
import type { AllocatorExports } from './abi.js';

/**
 * One reusable block of WASM heap for a call's inputs and outputs, grown (never shrunk) as calls need
 * more, so hot paths such as per-token appends do not malloc and free on every call.
 */
export class Scratch {
  private pointer = 0;
  private capacity = 0;

  constructor(private readonly exports: AllocatorExports) {}

  /** Byte offsets of consecutive 16-byte-aligned regions of the given byte sizes (valid until the next call). */
  regions(...sizes: number[]): number[] {
    const aligned = sizes.map((size) => Math.ceil(size / 16) * 16);
    const total = aligned.reduce((a, b) => a + b, 0);
    if (total > this.capacity) {
      const grown = Math.max(total, this.capacity * 2, 4096);
      this.release();
      const pointer = this.exports.malloc(grown);
      if (pointer === 0) {
        throw new AllocatorError('OUT_OF_MEMORY', `Could not reserve ${grown} bytes of WebAssembly heap for a call's buffers: the heap cannot grow further.`);
      }
      this.pointer = pointer;
      this.capacity = grown;
    }
    let offset = this.pointer;
    return aligned.map((size) => {
      const start = offset;
      offset += size;
      return start;
    });
  }

  release(): void {
    if (this.pointer) this.exports.free(this.pointer);
    this.pointer = 0;
    this.capacity = 0;
  }
}
