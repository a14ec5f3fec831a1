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
export { DEFAULT_NPM_REGISTRY, fetchNpmTarball, npmRegistryUrl, type DownloadProgress, type FetchNpmTarballOptions } from './npm-tarball.js';
export { readTarEntry } from './tar.js';
export { paragraphs, tokenSegments, type SegmentOptions } from '../eval/segments.js';
