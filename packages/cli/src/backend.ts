import { type CacheGeometry, type GpuContext, type KvStore, PagedStore, ReferenceStore, WebGpuStore, isSoftwareAdapter, requestGpu } from '@adakv/core';
import type { CliIo } from './main.js';

export const BACKENDS = ['auto', 'wasm', 'webgpu', 'reference'] as const;
export type Backend = (typeof BACKENDS)[number];

/** What `auto` chose, decided once per process: a hardware GPU, or null for WASM (with the notice to print). */
let autoChoice: Promise<{ gpu: GpuContext | null; notice: string | null }> | null = null;
let noticed = false;

async function chooseAuto(): Promise<{ gpu: GpuContext | null; notice: string | null }> {
  try {
    const gpu = await requestGpu();
    if (!isSoftwareAdapter(gpu)) return { gpu, notice: null };
    gpu.device.destroy();
    return { gpu: null, notice: `backend auto: WebGPU here is a software renderer (${gpu.adapterInfo}), slower than wasm; using wasm (\`--backend webgpu\` forces it).` };
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'BACKEND_UNAVAILABLE') throw error;
    return { gpu: null, notice: 'backend auto: no usable WebGPU adapter here, using wasm (`--backend webgpu` says why).' };
  }
}

/**
 * A KV store for `--backend`: `wasm` (paged blocks in WebAssembly, the default), `webgpu` (paged
 * blocks on WebGPU through Dawn; the whole forward pass then runs as WGSL kernels), `reference`
 * (plain TypeScript, the twin every fast path is checked against), `auto` (WebGPU on a hardware
 * adapter, otherwise WASM, with a notice).
 */
export async function createStore(backend: Backend, geometry: CacheGeometry, io: CliIo): Promise<KvStore> {
  switch (backend) {
    case 'reference':
      return new ReferenceStore(geometry);
    case 'wasm':
      return PagedStore.create(geometry);
    case 'webgpu':
      return WebGpuStore.create(geometry);
    case 'auto': {
      autoChoice ??= chooseAuto();
      const { gpu, notice } = await autoChoice;
      if (gpu) return WebGpuStore.create(geometry, { gpu });
      if (notice && !noticed) io.stderr.write(`${notice}\n`);
      noticed = true;
      return PagedStore.create(geometry);
    }
  }
}
