import { AdakvError, type CacheGeometry, type KvStore, PagedStore, ReferenceStore, WebGpuStore } from '@adakv/core';
import type { CliIo } from './main.js';

export const BACKENDS = ['auto', 'wasm', 'webgpu', 'reference'] as const;
export type Backend = (typeof BACKENDS)[number];

let noticed = false;

/**
 * A KV store for `--backend`: `wasm` (paged blocks in WebAssembly, the default), `webgpu` (paged
 * blocks and kernels on WebGPU through Dawn), `reference` (plain TypeScript, the twin every fast
 * path is checked against), `auto` (WebGPU when an adapter is found, otherwise WASM, with a notice).
 */
export async function createStore(backend: Backend, geometry: CacheGeometry, io: CliIo): Promise<KvStore> {
  switch (backend) {
    case 'reference':
      return new ReferenceStore(geometry);
    case 'wasm':
      return PagedStore.create(geometry);
    case 'webgpu':
      return WebGpuStore.create(geometry);
    case 'auto':
      try {
        return await WebGpuStore.create(geometry);
      } catch (error) {
        if (!(error instanceof AdakvError) || error.code !== 'BACKEND_UNAVAILABLE') throw error;
        if (!noticed) io.stderr.write(`backend auto: ${error.message.split(';')[0]}; using wasm.\n`);
        noticed = true;
        return PagedStore.create(geometry);
      }
  }
}
