import { AllocatorError } from './errors.js';

/**
 * Where the allocator's WebAssembly comes from: a URL or path (file: URLs and plain paths are read with
 * node:fs in Node, everything else is fetched), the bytes, a compiled module, or a fetch Response.
 */
export type WasmSource = URL | string | ArrayBuffer | ArrayBufferView | WebAssembly.Module | Response | Promise<Response>;

/** The file shipped with the package; bundlers that understand `new URL(..., import.meta.url)` copy it. */
export function defaultWasmUrl(): URL {
  return new URL('../wasm/allocator.wasm', import.meta.url);
}

/** The threads variant shipped with the package (SIMD128 + atomics over one imported shared memory). */
export function defaultThreadsWasmUrl(): URL {
  return new URL('../wasm/allocator.threads.wasm', import.meta.url);
}

/** The relaxed-SIMD single-thread variant shipped with the package (fused multiply-add). */
export function defaultRelaxedWasmUrl(): URL {
  return new URL('../wasm/allocator.relaxed.wasm', import.meta.url);
}

/** The relaxed-SIMD threads variant shipped with the package. */
export function defaultRelaxedThreadsWasmUrl(): URL {
  return new URL('../wasm/allocator.relaxed-threads.wasm', import.meta.url);
}

type Instantiable = WebAssembly.Module | BufferSource | Response;

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
const hasScheme = /^[a-z][a-z0-9+.-]*:/i;

/** Turns any WasmSource into something WebAssembly (through the loader) can instantiate. */
export async function resolveWasmSource(source: WasmSource = defaultWasmUrl()): Promise<Instantiable> {
  if (source instanceof WebAssembly.Module || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return source;
  }
  if (typeof source !== 'string' && !(source instanceof URL)) return streamable(await source);
  const isFile = source instanceof URL ? source.protocol === 'file:' : !hasScheme.test(source) || source.startsWith('file:');
  if (isNode && isFile) {
    // A variable specifier keeps browser bundlers from trying to resolve node:fs.
    const fsModule = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
    const where = typeof source === 'string' && source.startsWith('file:') ? new URL(source) : source;
    try {
      return await readFile(where);
    } catch (error) {
      throw new AllocatorError('WASM_LOAD_FAILED', `Could not read the allocator's WebAssembly at ${String(where)}: pass the wasm option a path, URL, bytes or WebAssembly.Module.`, { cause: error });
    }
  }
  const response = await fetch(source);
  if (!response.ok) {
    throw new AllocatorError('WASM_LOAD_FAILED', `Fetching the allocator's WebAssembly from ${String(source)} gave HTTP ${response.status}: pass the wasm option where the file is served.`);
  }
  return streamable(response);
}

/** Compiles any WasmSource (a WebAssembly.Module is returned as it is). */
export async function compileWasmSource(source?: WasmSource): Promise<WebAssembly.Module> {
  const resolved = await resolveWasmSource(source);
  if (resolved instanceof WebAssembly.Module) return resolved;
  if (typeof Response !== 'undefined' && resolved instanceof Response) return WebAssembly.compileStreaming(resolved);
  return WebAssembly.compile(resolved as BufferSource);
}

/** Streaming compilation needs the wasm MIME type; servers that send another get a buffered compile. */
async function streamable(response: Response): Promise<Response | ArrayBuffer> {
  const type = response.headers.get('content-type') ?? '';
  return type.startsWith('application/wasm') ? response : response.arrayBuffer();
}
