import { AdakvError } from '../errors.js';
import { type ModelFeatures, modelFeatures } from '../model/features.js';
import type { Model } from '../model/model.js';
import type { BackendName } from './backend.js';

/** What each fast backend's kernels do not run yet (the reference backend runs everything). */
const MISSING: Readonly<Record<Exclude<BackendName, 'reference'>, readonly (keyof ModelFeatures)[]>> = {
  wasm: ['biases', 'neoxRope'],
  webgpu: [],
};

const WORDS: Readonly<Record<keyof ModelFeatures, string>> = { biases: 'Q/K/V biases', neoxRope: 'rotate-half (NeoX) RoPE' };

/** Throws BACKEND_UNAVAILABLE, naming what is missing, for a model this backend's kernels cannot run. */
export function refuseUnsupported(model: Model, backend: Exclude<BackendName, 'reference'>): void {
  const features = modelFeatures(model);
  const missing = MISSING[backend].filter((feature) => features[feature]);
  if (missing.length === 0) return;
  const architecture = model.source.architecture ?? 'this';
  throw new AdakvError(
    'BACKEND_UNAVAILABLE',
    `The ${backend} backend does not run ${missing.map((feature) => WORDS[feature]).join(' or ')} yet, which ${architecture} models use; run it on the reference backend (--backend reference).`,
  );
}
