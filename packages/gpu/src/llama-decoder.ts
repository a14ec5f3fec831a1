import type { GpuContext } from './device.js';
import type { Dispatcher } from './dispatcher.js';
import { GpuError } from './errors.js';
import type { GpuPagedCache } from './paged-cache.js';

export interface LlamaShape {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly layers: number;
  readonly queryHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly normEps: number;
}

export interface LlamaLayerWeights {
  readonly attentionNorm: Float32Array;
  readonly wq: Float32Array;
  readonly wk: Float32Array;
  readonly wv: Float32Array;
  readonly wo: Float32Array;
  readonly ffnNorm: Float32Array;
  readonly w1: Float32Array;
  readonly w2: Float32Array;
  readonly w3: Float32Array;
}

export interface LlamaWeights {
  readonly tokenEmbedding: Float32Array;
  readonly layers: readonly LlamaLayerWeights[];
  readonly finalNorm: Float32Array;
  readonly classifier: Float32Array;
  readonly ropeCos: Float32Array;
  readonly ropeSin: Float32Array;
}

const MATRICES = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;

/**
 * The LLaMA decode step on the GPU: RMSNorm, the projections (matvec kernels), RoPE, the K/V append
 * and paged attention of a {@link GpuPagedCache}, SwiGLU, residuals, the final norm and classifier,
 * all in one submission per token; only the logits come back. Weights are uploaded once.
 */
export class GpuLlamaDecoder {
  private readonly buffers: GPUBuffer[] = [];
  private readonly layerWeights: Record<(typeof MATRICES)[number] | 'attentionNorm' | 'ffnNorm', GPUBuffer>[];
  private readonly embedding: GPUBuffer;
  private readonly finalNorm: GPUBuffer;
  private readonly classifier: GPUBuffer;
  private readonly ropeCos: GPUBuffer;
  private readonly ropeSin: GPUBuffer;

  constructor(readonly gpu: GpuContext, readonly shape: LlamaShape, weights: LlamaWeights) {
    if (weights.layers.length !== shape.layers) throw new GpuError('INVALID_ARGUMENT', `Expected ${shape.layers} layers of weights, got ${weights.layers.length}.`);
    this.layerWeights = weights.layers.map((layer) => ({
      attentionNorm: this.upload(layer.attentionNorm),
      ffnNorm: this.upload(layer.ffnNorm),
      ...Object.fromEntries(MATRICES.map((name) => [name, this.upload(layer[name])])),
    }) as GpuLlamaDecoder['layerWeights'][number]);
    this.embedding = this.upload(weights.tokenEmbedding);
    this.finalNorm = this.upload(weights.finalNorm);
    this.classifier = weights.classifier === weights.tokenEmbedding ? this.embedding : this.upload(weights.classifier);
    this.ropeCos = this.upload(weights.ropeCos);
    this.ropeSin = this.upload(weights.ropeSin);
  }

  private upload(data: Float32Array): GPUBuffer {
    const device = this.gpu.device;
    device.pushErrorScope('out-of-memory');
    const buffer = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    void device.popErrorScope().then((error) => {
      if (error) this.outOfMemory = error.message;
    });
    device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    this.buffers.push(buffer);
    return buffer;
  }

  private outOfMemory: string | null = null;

  /** Forwards `token` at `position` through every layer, appending its K/V to `cache`; returns the logits. */
  async decode(token: number, position: number, cache: GpuPagedCache): Promise<Float32Array> {
    const { dim, hiddenDim, layers, queryHeads, kvHeads, headDim, vocabSize, contextLength, normEps } = this.shape;
    if (this.outOfMemory) throw new GpuError('DEVICE_OUT_OF_MEMORY', `The model's weights did not fit on the GPU: ${this.outOfMemory}`);
    if (!Number.isInteger(token) || token < 0 || token >= vocabSize) throw new GpuError('INVALID_ARGUMENT', `token ${token} is outside the vocabulary of ${vocabSize}.`);
    if (!Number.isInteger(position) || position < 0 || position >= contextLength) throw new GpuError('INVALID_ARGUMENT', `position ${position} is outside the context of ${contextLength}.`);
    const d: Dispatcher = cache.dispatcher;
    const storage = GPUBufferUsage.STORAGE;
    const scratch = (floats: number) => d.temp(floats * 4, storage | GPUBufferUsage.COPY_SRC);
    const [x, normed, q, k, v, attention, projected, gate, up, logits] = [dim, dim, queryHeads * headDim, kvHeads * headDim, kvHeads * headDim, queryHeads * headDim, dim, hiddenDim, hiddenDim, vocabSize].map(scratch) as GPUBuffer[];
    d.copy(this.embedding, token * dim * 4, x!, 0, dim * 4);
    const matvec = (w: GPUBuffer, input: GPUBuffer, out: GPUBuffer, inDim: number, outDim: number) =>
      d.run('matvec', { inDim, outDim, weightOffset: 0 }, [w, input, out], { groups: outDim });
    const rmsnorm = (input: GPUBuffer, weight: GPUBuffer, out: GPUBuffer) => d.run('rmsnorm', { dim, weightOffset: 0, eps: normEps }, [input, weight, out], { x: 1 });
    const positionArray = Int32Array.of(position);
    for (let layer = 0; layer < layers; layer++) {
      const w = this.layerWeights[layer]!;
      rmsnorm(x!, w.attentionNorm, normed!);
      matvec(w.wq, normed!, q!, dim, queryHeads * headDim);
      matvec(w.wk, normed!, k!, dim, kvHeads * headDim);
      matvec(w.wv, normed!, v!, dim, kvHeads * headDim);
      d.run('rope', { heads: queryHeads, headDim, position }, [q!, this.ropeCos, this.ropeSin], { threads: (queryHeads * headDim) / 2 });
      d.run('rope', { heads: kvHeads, headDim, position }, [k!, this.ropeCos, this.ropeSin], { threads: (kvHeads * headDim) / 2 });
      cache.encodeAppend(layer, k!, v!, positionArray);
      cache.encodeAttend(layer, q!, attention!);
      matvec(w.wo, attention!, projected!, queryHeads * headDim, dim);
      d.run('elementwise', { length: dim, op: 0 }, [x!, projected!], { threads: dim });
      rmsnorm(x!, w.ffnNorm, normed!);
      matvec(w.w1, normed!, gate!, dim, hiddenDim);
      matvec(w.w3, normed!, up!, dim, hiddenDim);
      d.run('elementwise', { length: hiddenDim, op: 1 }, [gate!, up!], { threads: hiddenDim });
      matvec(w.w2, gate!, projected!, hiddenDim, dim);
      d.run('elementwise', { length: dim, op: 0 }, [x!, projected!], { threads: dim });
    }
    rmsnorm(x!, this.finalNorm, normed!);
    matvec(this.classifier, normed!, logits!, dim, vocabSize);
    return new Float32Array(await d.read(logits!, vocabSize * 4));
  }

  /** Frees the uploaded weights. */
  destroy(): void {
    for (const buffer of this.buffers.splice(0)) buffer.destroy();
  }
}
