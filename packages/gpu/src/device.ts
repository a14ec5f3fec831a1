/// <reference types="@webgpu/types" />
import { GpuError } from './errors.js';

/** A WebGPU device and what it offers; `lost` settles if the device goes away. */
export interface GpuContext {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** The adapter, in words (vendor, architecture, description). */
  readonly adapterInfo: string;
  /** `shader-f16` was offered and enabled. */
  readonly f16: boolean;
  /** Set once the device is lost; every later use throws a DEVICE_LOST GpuError. */
  lostReason: string | null;
}

// Dawn's `create()` result must stay referenced for the life of the process (else Node aborts at GC).
let dawn: GPU | null = null;

async function gpuEntryPoint(): Promise<GPU> {
  const fromBrowser = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (fromBrowser) return fromBrowser;
  if (dawn) return dawn;
  try {
    const name = 'webgpu'; // a variable, so bundlers for the browser leave Node's Dawn binding alone
    const module = (await import(/* @vite-ignore */ name)) as { create(options: string[]): GPU; globals: object };
    Object.assign(globalThis, module.globals); // GPUBufferUsage, GPUMapMode, ...
    dawn = module.create([]);
    return dawn;
  } catch (error) {
    throw new GpuError(
      'BACKEND_UNAVAILABLE',
      'No WebGPU here: no navigator.gpu, and the optional npm package "webgpu" (Dawn) could not be loaded. ' +
        'Install it (npm install webgpu), or use the wasm backend.',
      { cause: error },
    );
  }
}

/**
 * Requests an adapter and a device (with `shader-f16` when offered, and the adapter's largest buffer
 * sizes), in a browser or in Node through Dawn.
 */
export async function requestGpu(): Promise<GpuContext> {
  const gpu = await gpuEntryPoint();
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new GpuError(
      'BACKEND_UNAVAILABLE',
      'WebGPU found no adapter. On a machine without a GPU, install a Vulkan driver such as SwiftShader ' +
        '(VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json), or use the wasm backend.',
    );
  }
  const f16 = adapter.features.has('shader-f16');
  // the adapter's largest buffers, not WebGPU's defaults (256 / 128 MiB): a model's classifier or one
  // layer's cache can need more
  const requiredLimits = { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
  const device = await adapter.requestDevice({ requiredLimits, ...(f16 ? { requiredFeatures: ['shader-f16'] } : {}) });
  const info = adapter.info;
  const context: GpuContext = { device, adapterInfo: `${info.vendor} ${info.architecture} ${info.description}`.trim(), f16, lostReason: null };
  void device.lost.then((lost) => {
    context.lostReason = lost.message || lost.reason || 'unknown';
  });
  return context;
}

/** Throws a typed error if the device is gone. */
export function assertAlive(context: GpuContext): void {
  if (context.lostReason !== null) {
    throw new GpuError('DEVICE_LOST', `The GPU device was lost (${context.lostReason}); create a new store to continue.`);
  }
}

/** Bytes of the largest buffer a kernel can bind on this device (a model tensor, one layer's K or V). */
export function largestStorageBuffer(context: GpuContext): number {
  const { maxBufferSize, maxStorageBufferBindingSize } = context.device.limits;
  return Math.min(maxBufferSize, maxStorageBufferBindingSize);
}

/** Renderers that expose WebGPU on a CPU (SwiftShader, llvmpipe, lavapipe): correct, but far slower than WASM. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software/i;

/** Whether `context` runs on a software renderer rather than a GPU. */
export function isSoftwareAdapter(context: GpuContext): boolean {
  return SOFTWARE_ADAPTER.test(context.adapterInfo);
}
