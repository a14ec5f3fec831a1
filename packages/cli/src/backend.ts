import { AdakvError, type CacheGeometry, type KvStore, PagedStore, ReferenceStore } from '@adakv/core';
import type { CliIo } from './main.js';

export const BACKENDS = ['auto', 'wasm', 'reference', 'webgpu'] as const;
export type Backend = (typeof BACKENDS)[number];

/**
 * A KV store for `--backend`: `wasm` (paged blocks in WebAssembly, the default), `reference` (plain
 * TypeScript, the twin every fast path is checked against), `auto` (the fastest available here).
 */
export async function createStore(backend: Backend, geometry: CacheGeometry, io: CliIo): Promise<KvStore> {
  switch (backend) {
    case 'reference':
      return new ReferenceStore(geometry);
    case 'wasm':
    case 'auto':
      return PagedStore.create(geometry);
    case 'webgpu':
      void io;
      throw new AdakvError('BACKEND_UNAVAILABLE', 'The WebGPU store is not part of this build of the CLI yet; use --backend wasm (default) or reference.');
  }
}
