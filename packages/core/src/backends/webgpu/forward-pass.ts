import { type GpuContext, GpuLlamaDecoder } from '@adakv/gpu';
import { OptionError } from '../errors.js';
import type { KvStore } from '../store.js';
import { toCoreError, WebGpuStore } from '../stores/webgpu-store.js';
import { Transformer, type PrefillOutput } from './forward.js';
import type { Model } from './model.js';
import { checkPosition, checkPrefillInput, checkToken } from './forward-checks.js';

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
 * The forward pass on the GPU. Prefill runs the whole prompt as one submission (tiled matrix
 * products, causal attention) and reads back each layer's q, k, v as the observations compression
 * plans from; a prompt too large for the device's buffer limits prefills on the CPU instead. Every
 * decode step (norms, projections, RoPE, append, paged attention, SwiGLU, classifier) is one
 * submission too; only the logits come back.
 */
export class GpuTransformer {
  /** The CPU pass, made only for a prompt the device cannot prefill. */
  private cpu: Transformer | undefined;

  constructor(readonly model: Model) {}

  async prefill(tokens: ArrayLike<number>, store: KvStore): Promise<PrefillOutput> {
    const gpu = gpuStore(store);
    checkPrefillInput(this.model.config, tokens, gpu);
    try {
      const decoder = decoderFor(this.model, gpu);
      if (!decoder.prefillFits(tokens.length)) return await (this.cpu ??= new Transformer(this.model)).prefill(tokens, gpu);
      return await decoder.prefill(tokens, gpu.cache);
    } catch (error) {
      throw toCoreError(error);
    }
  }

  decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    return this.onGpu(token, position, store, (decoder, cache) => decoder.decode(token, position, cache));
  }

  /** A greedy decode step: the next token, found on the GPU (only 4 bytes come back). */
  decodeGreedy(token: number, position: number, store: KvStore): Promise<number> {
    return this.onGpu(token, position, store, (decoder, cache) => decoder.decodeGreedy(token, position, cache));
  }

  private async onGpu<T>(token: number, position: number, store: KvStore, step: (decoder: GpuLlamaDecoder, cache: WebGpuStore['cache']) => Promise<T>): Promise<T> {
    const gpu = gpuStore(store);
    checkToken(this.model.config, token);
    checkPosition(this.model.config, position);
    try {
      return await step(decoderFor(this.model, gpu), gpu.cache);
    } catch (error) {
      throw toCoreError(error);
    }
  }
}
