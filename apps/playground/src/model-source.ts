import { type Model, isGguf, loadModel } from '@adakv/core';
import { cachedBytes, contentKey, storeBytes } from './model-cache.js';

export type Progress = (label: string, received: number, total: number) => void;
/** A step without byte counts (checking hashes, parsing). */
export type Step = (text: string) => void;

interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** Downloads with byte-level progress (the model is 60 MB). */
export async function fetchBytes(url: URL, label: string, expected: number, onProgress: Progress): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Could not download ${label} (${(error as Error).message}); check the connection and reload.`);
  }
  if (!response.ok || !response.body) throw new Error(`Could not download ${label} (${response.status} ${response.statusText}).`);
  const total = Number(response.headers.get('content-length')) || expected;
  const out = new Uint8Array(total);
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.byteLength > out.byteLength) throw new Error(`${label} is larger than its manifest says; the site's files are out of date.`);
    out.set(value, received);
    received += value.byteLength;
    onProgress(label, received, total);
  }
  return out.subarray(0, received);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

interface Manifest {
  files: { model: ManifestFile; tokenizer: ManifestFile };
}

/** The manifest from the network, or the copy this browser kept when the network is gone. */
async function fetchManifest(url: URL): Promise<Manifest> {
  const keptManifest = async () => {
    const kept = await cachedBytes(url.href);
    return kept ? (JSON.parse(new TextDecoder().decode(kept)) as Manifest) : undefined;
  };
  if (!navigator.onLine) {
    const kept = await keptManifest();
    if (kept) return kept;
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    const kept = await keptManifest();
    if (kept) return kept;
    throw new Error(`Could not reach ${url.href} (${(error as Error).message}); check the connection, or pick your own model file below.`);
  }
  if (!response.ok) throw new Error(`This site has no default model (${response.status}); pick your own model file below.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes)) as Manifest;
  } catch {
    throw new Error(`${url.href} is not a model manifest (not JSON); pick your own model file below.`);
  }
  if (!manifest.files?.model?.sha256 || !manifest.files?.tokenizer?.sha256) throw new Error(`${url.href} names no model and tokenizer files with their sha256.`);
  await storeBytes(url.href, bytes, 'application/json');
  return manifest;
}

const intact = async (bytes: Uint8Array, file: ManifestFile) => bytes.byteLength === file.bytes && (await sha256Hex(bytes)) === file.sha256;

/** A manifest file: from this browser's cache when it holds the same hash, else downloaded; checked either way. */
async function checked(base: URL, file: ManifestFile, label: string, onProgress: Progress, onStep: Step): Promise<{ bytes: Uint8Array; cached: boolean; kept: boolean }> {
  const url = new URL(file.path, base);
  const key = contentKey(url, file.sha256);
  const kept = await cachedBytes(key);
  if (kept) {
    onStep(`Checking ${label} from this browser's storage (sha256)…`);
    if (await intact(kept, file)) return { bytes: kept, cached: true, kept: true };
  }
  const bytes = await fetchBytes(url, label, file.bytes, onProgress);
  onStep(`Checking ${label} (sha256)…`);
  if (!(await intact(bytes, file))) {
    throw new Error(`${label} did not arrive intact (size or sha256 differs from the manifest); reload the page.`);
  }
  return { bytes, cached: false, kept: await storeBytes(key, bytes) };
}

export interface ServedModel {
  readonly model: Model;
  /** Both files came from this browser's storage (no download). */
  readonly cached: boolean;
  /** Both files are now in this browser's storage (the next visit needs no download). */
  readonly kept: boolean;
}

/** The model served with the site: `manifest.json`, `model.bin` and `tokenizer.bin` under `base`. */
export async function loadServedModel(base: URL, onProgress: Progress, onStep: Step = () => {}): Promise<ServedModel> {
  const manifest = await fetchManifest(new URL('manifest.json', base));
  const tokenizer = await checked(base, manifest.files.tokenizer, 'tokenizer.bin', onProgress, onStep);
  const model = await checked(base, manifest.files.model, 'model.bin', onProgress, onStep);
  onStep('Reading the model…');
  return { model: await loadModel(model.bytes, { tokenizer: tokenizer.bytes }), cached: tokenizer.cached && model.cached, kept: tokenizer.kept && model.kept };
}

/** A user's own files: a .gguf alone, or a llama2.c .bin with its tokenizer.bin. */
export async function loadUserFiles(files: readonly File[]): Promise<Model> {
  if (files.length === 0) throw new Error('No file chosen.');
  const read = async (file: File) => new Uint8Array(await file.arrayBuffer());
  const contents = await Promise.all(files.map(async (file) => ({ file, bytes: await read(file) })));
  const gguf = contents.find((c) => isGguf(c.bytes));
  if (gguf) return loadModel(gguf.bytes);
  const tokenizer = contents.find((c) => /tokenizer/i.test(c.file.name));
  const model = contents.find((c) => c !== tokenizer);
  if (!model) throw new Error('Pick the model file too (a llama2.c .bin or a .gguf), not only the tokenizer.');
  if (!tokenizer) throw new Error(`${model.file.name} is not a GGUF file; for a llama2.c checkpoint pick its tokenizer.bin as well.`);
  return loadModel(model.bytes, { tokenizer: tokenizer.bytes });
}
