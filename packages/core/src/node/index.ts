/** Node-only helpers of @adakv/core (file system, the npm registry, caches); the main entry stays browser-safe. */
export { defaultCacheDir } from './cache-dir.js';
export {
  DEFAULT_MODEL,
  ensureDefaultModel,
  type DefaultModelFiles,
  type DefaultModelProgress,
  type EnsureDefaultModelOptions,
} from './default-model.js';
export { loadDefaultModel, loadModelFile } from './files.js';
export { enableRelaxedSimd } from './relaxed-simd.js';
export {
  DEFAULT_NPM_REGISTRY,
  downloadNpmTarball,
  fetchNpmTarball,
  npmRegistryUrl,
  parseNpmSpec,
  resolveNpmPackage,
  type DownloadProgress,
  type FetchNpmTarballOptions,
  type NpmSpec,
  type ResolvedNpmPackage,
} from './npm-tarball.js';
export {
  AmbiguousModelError,
  MODEL_MANIFEST,
  cachedModelNames,
  describeCachedFileState,
  inspectCachedModel,
  listCachedModels,
  modelCacheName,
  modelIntegrityError,
  pullRegistryModel,
  removeCachedModel,
  resolveCachedModel,
  verifyCachedModel,
  type CachedFileState,
  type CachedModel,
  type CachedModelFile,
  type CachedModelFiles,
  type CachedModelState,
  type ListCachedModelsOptions,
  type ModelFormat,
  type ModelManifest,
  type ModelManifestFile,
  type PulledModel,
  type PullRegistryModelOptions,
  type RegistryModelProgress,
  type ResolveCachedModelOptions,
} from './registry-model.js';
export { readTarEntry, tarEntries, type TarEntry } from './tar.js';
export { paragraphs, tokenSegments, type SegmentOptions } from '../eval/segments.js';
