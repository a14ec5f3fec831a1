import { OptionError } from '../errors.js';
import type { KvStore } from '../store.js';
import { WebGpuStore } from '../stores/webgpu-store.js';
import { Transformer } from './forward.js';
import { GpuTransformer } from './gpu-transformer.js';
import type { Model } from './model.js';

export type ForwardPass = Transformer | GpuTransformer;

/**
 * The forward pass for a store: on the GPU for a `WebGpuStore` (its K/V are already there), on the
 * CPU for any other, unless `forward` names one.
 */
export function forwardPassFor(model: Model, store: KvStore, forward?: 'cpu' | 'gpu'): ForwardPass {
  if (forward !== undefined && forward !== 'cpu' && forward !== 'gpu') {
    throw new OptionError(`forward must be "cpu" or "gpu", got ${String(forward)}.`);
  }
  return (forward ?? (store instanceof WebGpuStore ? 'gpu' : 'cpu')) === 'gpu' ? new GpuTransformer(model) : new Transformer(model);
}
