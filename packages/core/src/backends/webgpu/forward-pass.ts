import { type GpuContext, GpuLlamaDecoder, GpuMixedCache } from '@adakv/gpu';
import { InvalidNumberError, OptionError } from '../../errors.js';
import { type PrefillOptions, type PrefillOutput, Transformer, parameterCount } from '../../model/forward.js';
import { prefillInChunks } from '../../model/prefill-chunks.js';
import { checkPosition, checkPrefillInput, checkToken } from '../../model/forward-checks.js';
import type { Model } from '../../model/model.js';
import type { KvStore } from '../../store.js';
import type { ForwardPass } from '../backend.js';
import { WebGpuStore, toCoreError } from './webgpu-store.js';

/** One decoder (uploaded weights) per model and device. */
const decoders = new WeakMap<Model, WeakMap<GpuContext, GpuLlamaDecoder>>();

export function decoderFor(model: Model, gpu: GpuContext): GpuLlamaDecoder {
  let perDevice = decoders.get(model);
  if (!perDevice) decoders.set(model, (perDevice = new WeakMap()));
  let decoder = perDevice.get(gpu);
  if (!decoder) {
    try {
      decoder = new GpuLlamaDecoder(gpu, model.config, model.weights);
    } catch (error) {
      throw toCoreError(error);
    }
    perDevice.set(gpu, decoder);
  }
  return decoder;
}

/** The most tokens (up to `tokens`) one GPU prefill submission fits in the device's limits; 0 when none does. */
function largestChunk(decoder: GpuLlamaDecoder, tokens: number): number {
  let chunk = tokens;
  while (chunk > 0 && !decoder.prefillFits(chunk)) chunk = Math.floor(chunk / 2);
  return chunk;
}

/**
 * The forward pass on the GPU. Prefill runs the prompt as one submission (tiled matrix products,
 * causal attention over the paged cache) and reads back each layer's q, k, v as the observations
 * compression plans from; a prompt too large for the device's buffer limits goes in chunks that fit
 * (the CPU prefills only when not even one token fits, e.g. heads wider than 256, or into a store
 * whose heads differ in format). Every
 * decode step (norms, projections, RoPE, append, paged attention, SwiGLU, classifier) is one
 * submission too, for one sequence or a batch; only the logits (or, greedy, the token ids) come back.
 */
export class GpuForwardPass implements ForwardPass {
  /** The CPU pass, made only for a model the device cannot prefill. */
  private cpu: Transformer | undefined;

  /** Uploaded as f32: 4 bytes per parameter (on the device). */
  readonly weights: { readonly residentBytes: number; readonly parameters: number };

  constructor(readonly model: Model, private readonly gpu: GpuContext) {
    const parameters = parameterCount(model);
    this.weights = { residentBytes: parameters * 4, parameters };
  }

  async prefill(tokens: ArrayLike<number>, store: KvStore, options: PrefillOptions = {}): Promise<PrefillOutput> {
    const gpu = this.onDevice(store);
    const start = options.start ?? 0;
    checkPrefillInput(this.model.config, tokens, gpu, start);
    try {
      const decoder = decoderFor(this.model, this.gpu);
      const { cache } = gpu;
      const chunk = largestChunk(decoder, tokens.length);
      // a store whose heads differ in format (made for compressed entries) is prefilled through its own append and attention
      if (chunk === 0 || cache instanceof GpuMixedCache) return await (this.cpu ??= new Transformer(this.model)).prefill(tokens, gpu, options);
      // the chunk's query rows go to the store's rings where decode-time eviction scores from them
      return await prefillInChunks(tokens, chunk, start, options.observations ?? true, (part, at, observe) =>
        decoder.prefill(part, cache, { start: at, observe, record: true }));
    } catch (error) {
      throw toCoreError(error);
    }
  }

  async decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    return (await this.decodeBatch([token], [position], [store]))[0]!;
  }

  decodeBatch(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<Float32Array[]> {
    return this.step(tokens, positions, stores, (decoder, caches) => decoder.decodeBatch([...tokens], [...positions], caches));
  }

  async decodeGreedy(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<number[]> {
    const next = await this.step(tokens, positions, stores, (decoder, caches) => decoder.decodeBatchGreedy([...tokens], [...positions], caches));
    const broken = next.findIndex((token) => token < 0);
    if (broken >= 0) {
      throw new InvalidNumberError(`The model computed non-finite logits at position ${positions[broken]! + 1}: its weights or activations hold NaN or Infinity; check the model file.`);
    }
    return next;
  }

  private async step<T>(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[], run: (decoder: GpuLlamaDecoder, caches: WebGpuStore['cache'][]) => Promise<T>): Promise<T> {
    if (tokens.length !== positions.length || tokens.length !== stores.length || tokens.length === 0) {
      throw new OptionError(`decode: ${tokens.length} tokens, ${positions.length} positions and ${stores.length} stores must match (at least one).`);
    }
    const caches = stores.map((store) => this.onDevice(store).cache);
    tokens.forEach((token) => checkToken(this.model.config, token));
    positions.forEach((position) => checkPosition(this.model.config, position));
    try {
      return await run(decoderFor(this.model, this.gpu), caches);
    } catch (error) {
      throw toCoreError(error);
    }
  }

  private onDevice(store: KvStore): WebGpuStore {
    if (!(store instanceof WebGpuStore) || store.cache.dispatcher.gpu !== this.gpu) {
      throw new OptionError('The WebGPU forward pass needs a store made by the same WebGPU backend (its K/V must live on the same device).');
    }
    return store;
  }
}
