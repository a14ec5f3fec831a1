import { type GpuContext, GpuLlamaDecoder } from '@adakv/gpu';
import { OptionError } from '../errors.js';
import type { KvStore } from '../store.js';
import { toCoreError, WebGpuStore } from '../stores/webgpu-store.js';
import { Transformer, type PrefillOutput } from './forward.js';
import type { Model } from './model.js';

/** One decoder (uploaded weights) per model and device. */
const decoders = new WeakMap<Model, WeakMap<GpuContext, GpuLlamaDecoder>>();

function decoderFor(model: Model, store: WebGpuStore): GpuLlamaDecoder {
  const gpu = store.cache.dispatcher.gpu;
  let perDevice = decoders.get(model);
  if (!perDevice) decoders.set(model, (perDevice = new WeakMap()));
  let decoder = perDevice.get(gpu);
  if (!decoder) {
    decoder = new GpuLlamaDecoder(gpu, model.config, model.weights);
    perDevice.set(gpu, decoder);
  }
  return decoder;
}

function gpuStore(store: KvStore): WebGpuStore {
  if (!(store instanceof WebGpuStore)) {
    throw new OptionError('The GPU forward pass needs a WebGpuStore (its K/V must live on the same device).');
  }
  return store;
}

/**
 * The forward pass with decode on the GPU: every decode step (norms, projections, RoPE, append,
 * paged attention, SwiGLU, classifier) runs as WGSL kernels in one submission, only the logits come
 * back. Prefill runs batched on the CPU (it also yields the observations compression needs) and
 * appends to the same WebGPU store.
 */
export class GpuTransformer {
  private readonly cpu: Transformer;

  constructor(readonly model: Model) {
    this.cpu = new Transformer(model);
  }

  prefill(tokens: ArrayLike<number>, store: KvStore): Promise<PrefillOutput> {
    return this.cpu.prefill(tokens, gpuStore(store));
  }

  async decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    const gpu = gpuStore(store);
    try {
      return await decoderFor(this.model, gpu).decode(token, position, gpu.cache);
    } catch (error) {
      throw toCoreError(error);
    }
  }
}
