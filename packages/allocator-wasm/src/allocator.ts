import type { AllocatorExports } from './abi.js';
import { AllocatorError } from './errors.js';
import { Scratch } from './scratch.js';
import { compileWasmSource, type WasmSource } from './wasm-source.js';

/** Options of {@link Allocator.instantiate}. */
export interface InstantiateOptions {
  /**
   * The shared memory a threads variant imports (`env.memory`); the same memory is then handed to
   * every worker instance. Leave undefined for the single-thread variants, which own their memory.
   */
  memory?: WebAssembly.Memory;
}

/**
 * One instantiated allocator .wasm (any variant): its exports, its memory and a reusable scratch
 * region. Pools and models made from the same Allocator share one linear memory; independent
 * Allocators share nothing.
 */
export class Allocator {
  /** The module's raw exports (see {@link AllocatorExports}). */
  readonly exports: AllocatorExports;
  /** A reusable region of linear memory for the arguments and results of calls. */
  readonly scratch: Scratch;
  /** The compiled module, so workers can instantiate the same code over the same memory. */
  readonly module: WebAssembly.Module;

  private constructor(exports: AllocatorExports, module: WebAssembly.Module) {
    this.exports = exports;
    this.module = module;
    this.scratch = new Scratch(exports);
  }

  /** Instantiates the module (the packaged allocator.wasm unless `source` says otherwise). */
  static async load(source?: WasmSource): Promise<Allocator> {
    let module: WebAssembly.Module;
    try {
      module = await compileWasmSource(source);
    } catch (error) {
      if (error instanceof AllocatorError) throw error;
      throw new AllocatorError('WASM_LOAD_FAILED', `Could not compile the allocator's WebAssembly: ${(error as Error).message}. Pass the wasm option the packaged allocator.wasm (exported as "@adakv/allocator-wasm/allocator.wasm").`, { cause: error });
    }
    return Allocator.instantiate(module);
  }

  /** Instantiates an already compiled variant, over `options.memory` when it imports one. */
  static async instantiate(module: WebAssembly.Module, options: InstantiateOptions = {}): Promise<Allocator> {
    const diagnostics: string[] = [];
    let memory: WebAssembly.Memory | undefined = options.memory;
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
            // Copied first: TextDecoder refuses views of shared memory.
            diagnostics.push(new TextDecoder().decode(new Uint8Array(memory.buffer, pointer, length).slice()));
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
        ...(options.memory ? { memory: options.memory } : {}),
      },
    };
    try {
      const instance = await WebAssembly.instantiate(module, imports);
      const raw = instance.exports as unknown as AllocatorExports;
      memory ??= raw.memory;
      if (!memory) throw new Error('the module neither exports a memory nor was given one to import');
      // The threads variants import their memory instead of exporting it; expose it the same way.
      const exports = Object.assign(Object.create(null) as object, raw, { memory }) as AllocatorExports;
      exports._initialize();
      return new Allocator(exports, module);
    } catch (error) {
      if (error instanceof AllocatorError) throw error;
      throw new AllocatorError('WASM_LOAD_FAILED', `Could not instantiate the allocator's WebAssembly: ${(error as Error).message}. Pass the wasm option the packaged allocator.wasm (exported as "@adakv/allocator-wasm/allocator.wasm").`, { cause: error });
    }
  }

  /** Fresh views; take them after any call that may grow memory. */
  f32(pointer: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, pointer >>> 0, length);
  }
  /** A fresh Int32Array view of `length` values at `pointer`. */
  i32(pointer: number, length: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, pointer >>> 0, length);
  }
  /** A fresh Uint32Array view of `length` values at `pointer`. */
  u32(pointer: number, length: number): Uint32Array {
    return new Uint32Array(this.exports.memory.buffer, pointer >>> 0, length);
  }
  /** A fresh Float64Array view of `length` values at `pointer`. */
  f64(pointer: number, length: number): Float64Array {
    return new Float64Array(this.exports.memory.buffer, pointer >>> 0, length);
  }
  /** A fresh Uint8Array view of `length` bytes at `pointer`. */
  u8(pointer: number, length: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, pointer >>> 0, length);
  }
  /** A fresh Int16Array view of `length` values at `pointer`. */
  i16(pointer: number, length: number): Int16Array {
    return new Int16Array(this.exports.memory.buffer, pointer >>> 0, length);
  }
}

/** Loads an Allocator; the same as `Allocator.load`. */
export function loadAllocator(source?: WasmSource): Promise<Allocator> {
  return Allocator.load(source);
}
