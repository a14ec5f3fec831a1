import { type Model, isGguf, loadModel } from '@adakv/core';

export type Progress = (label: string, received: number, total: number) => void;

interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** Downloads with byte-level progress (the model is 60 MB). */
export async function fetchBytes(url: URL, label: string, expected: number, onProgress: Progress): Promise<Uint8Array> {
  const response = await fetch(url);
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

async function checked(base: URL, file: ManifestFile, label: string, onProgress: Progress): Promise<Uint8Array> {
  const bytes = await fetchBytes(new URL(file.path, base), label, file.bytes, onProgress);
  if (bytes.byteLength !== file.bytes || (await sha256Hex(bytes)) !== file.sha256) {
    throw new Error(`${label} did not arrive intact (size or sha256 differs from the manifest); reload the page.`);
  }
  return bytes;
}

/** The model served with the site: `models/stories15M/manifest.json` next to the page, or `base` if given. */
export async function loadServedModel(base: URL, onProgress: Progress): Promise<Model> {
  const response = await fetch(new URL('manifest.json', base));
  if (!response.ok) throw new Error(`This site has no default model (${response.status}); pick your own model file below.`);
  const manifest = (await response.json()) as { files: { model: ManifestFile; tokenizer: ManifestFile } };
  const tokenizer = await checked(base, manifest.files.tokenizer, 'tokenizer.bin', onProgress);
  const model = await checked(base, manifest.files.model, 'model.bin', onProgress);
  return loadModel(model, { tokenizer });
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
