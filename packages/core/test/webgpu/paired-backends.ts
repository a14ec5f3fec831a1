import { requestGpu } from '@adakv/gpu';
import { afterAll } from 'vitest';
import { WasmBackend, WebGpuBackend } from '../../src/index.js';

/** A WebGPU backend on its own device and a wasm backend, to hold against each other; freed after the file's tests. */
export async function pairedBackends(): Promise<{ webgpu: WebGpuBackend; wasm: WasmBackend }> {
  const gpu = await requestGpu();
  const webgpu = await WebGpuBackend.create({ gpu });
  const wasm = await WasmBackend.create();
  afterAll(() => {
    webgpu.dispose();
    wasm.dispose();
    gpu.device.destroy();
  });
  return { webgpu, wasm };
}
