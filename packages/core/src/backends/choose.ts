import { isSoftwareAdapter, requestGpu } from '@adakv/gpu';
import { OptionError } from '../errors.js';
import type { Backend, BackendName } from './backend.js';
import { ReferenceBackend } from './reference/index.js';
import { WasmBackend, type WasmBackendOptions } from './wasm/index.js';
import { WebGpuBackend, type WebGpuBackendOptions } from './webgpu/index.js';

/** A backend to start by name, or `auto`: WebGPU on a hardware adapter, else wasm. */
export type BackendChoice = 'auto' | BackendName;
/** Every {@link BackendChoice}, for flags and forms. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'webgpu', 'reference'];

/**
 * The options of every backend together ({@link createBackend} and {@link chooseBackend} pass on what
 * applies).
 */
export type BackendOptions = WasmBackendOptions & WebGpuBackendOptions;

/** Why `auto` did not pick WebGPU (null when it did, or when a backend was named). */
export type FallbackReason = 'software-adapter' | 'no-adapter' | null;

/** What {@link chooseBackend} started, and why. */
export interface ChosenBackend {
  /** The started backend. */
  readonly backend: Backend;
  /** A line for people when `auto` fell back (else null), e.g. to print on stderr. */
  readonly notice: string | null;
  /** Why `auto` did not pick WebGPU (null when it did, or when a backend was named). */
  readonly fallback: FallbackReason;
  /** The WebGPU adapter `auto` found and passed over (a software renderer), else null. */
  readonly skippedAdapter: string | null;
}

/** Starts the named backend (`webgpu` requests a device unless one is given; `wasm` loads the module). */
export async function createBackend(name: BackendName, options: BackendOptions = {}): Promise<Backend> {
  switch (name) {
    case 'reference':
      return new ReferenceBackend();
    case 'wasm':
      return WasmBackend.create(options);
    case 'webgpu':
      return WebGpuBackend.create(options);
    default:
      throw new OptionError(`Unknown backend "${String(name)}"; choose one of ${BACKEND_CHOICES.join(', ')}.`);
  }
}

/**
 * The backend everything runs on, chosen once: a name starts that backend (and fails with its typed
 * error when it cannot); `auto` takes WebGPU on a hardware adapter and otherwise WASM, with a notice
 * saying why (a software renderer such as SwiftShader is far slower than WASM).
 */
export async function chooseBackend(choice: BackendChoice = 'auto', options: BackendOptions = {}): Promise<ChosenBackend> {
  if (choice !== 'auto') return { backend: await createBackend(choice, options), notice: null, fallback: null, skippedAdapter: null };
  let reason: string;
  let fallback: FallbackReason;
  let skippedAdapter: string | null = null;
  try {
    const gpu = options.gpu ?? (await requestGpu());
    if (!isSoftwareAdapter(gpu)) return { backend: await WebGpuBackend.create({ ...options, gpu }), notice: null, fallback: null, skippedAdapter: null };
    if (!options.gpu) gpu.device.destroy();
    fallback = 'software-adapter';
    skippedAdapter = gpu.adapterInfo;
    reason = `WebGPU here is a software renderer (${gpu.adapterInfo}), slower than wasm`;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'BACKEND_UNAVAILABLE') throw error;
    fallback = 'no-adapter';
    reason = 'no usable WebGPU adapter here';
  }
  return { backend: await WasmBackend.create(options), notice: `backend auto: ${reason}; using wasm (choose webgpu to force it, or to see why it fails).`, fallback, skippedAdapter };
}
