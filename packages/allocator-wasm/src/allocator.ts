import { type Imports, instantiate } from '@assemblyscript/loader';
import type { AllocatorExports } from './abi.js';
import { AllocatorError } from './errors.js';
import { Scratch } from './scratch.js';
import { resolveWasmSource, type WasmSource } from './wasm-source.js';

/**
 * One instantiated allocator.wasm: its exports, its memory and a reusable scratch region. Pools made
 * from the same Allocator share one linear memory; independent Allocators share nothing.
 */
export class Allocator {
  readonly exports: AllocatorExports;
  readonly scratch: Scratch;

  private constructor(exports: AllocatorExports) {
    this.exports = exports;
    this.scratch = new Scratch(exports);
  }

  /** Instantiates the module (the packaged allocator.wasm unless `source` says otherwise). */
  static async load(source?: WasmSource): Promise<Allocator> {
    const diagnostics: string[] = [];
    let memory: WebAssembly.Memory | undefined;
    const imports = {
      wasi_snapshot_preview1: {
        proc_exit(code: number): never {
          throw new AllocatorError('WASM_ABORTED', `allocator.wasm exited with code ${code}${diagnostics.length ? `: ${diagnostics.join('')}` : ''}.`);
        },
        // Debug builds print failed assertions to stderr before exiting; keep the text for the error.
        fd_write(_fd: number, iovs: number, iovsCount: number, written: number): number {
          if (!memory) return 0;
          const view = new DataView(memory.buffer);
          let total = 0;
          for (let i = 0; i < iovsCount; i++) {
            const pointer = view.getUint32(iovs + i * 8, true);
            const length = view.getUint32(iovs + i * 8 + 4, true);
            diagnostics.push(new TextDecoder().decode(new Uint8Array(memory.buffer, pointer, length)));
            total += length;
          }
          view.setUint32(written, total, true);
          return 0;
        },
        fd_close: (): number => 0,
        fd_seek: (): number => 0,
      },
      env: {
        // Views are re-created after every call that may allocate, so growth needs no action here.
        emscripten_notify_memory_growth(): void {},
      },
    } as Imports;
    let resolved;
    try {
      resolved = await resolveWasmSource(source);
      const { exports } = await instantiate<Record<string, unknown>>(resolved, imports);
      const allocator = exports as unknown as AllocatorExports;
      memory = allocator.memory;
      allocator._initialize();
      return new Allocator(allocator);
    } catch (error) {
      if (error instanceof AllocatorError) throw error;
      throw new AllocatorError('WASM_LOAD_FAILED', `Could not instantiate the allocator's WebAssembly: ${(error as Error).message}. Pass the wasm option the packaged allocator.wasm (exported as "@adakv/allocator-wasm/allocator.wasm").`, { cause: error });
    }
  }

  /** Fresh views; take them after any call that may grow memory. */
  f32(pointer: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, pointer, length);
  }
  i32(pointer: number, length: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, pointer, length);
  }
  u32(pointer: number, length: number): Uint32Array {
    return new Uint32Array(this.exports.memory.buffer, pointer, length);
  }
  f64(pointer: number, length: number): Float64Array {
    return new Float64Array(this.exports.memory.buffer, pointer, length);
  }
}

/** Loads an Allocator; the same as `Allocator.load`. */
export function loadAllocator(source?: WasmSource): Promise<Allocator> {
  return Allocator.load(source);
}
