import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** How far a download is. */
export interface DownloadProgress {
  /** Bytes received so far. */
  readonly receivedBytes: number;
  /** Undefined when the size is not known in advance. */
  readonly totalBytes: number | undefined;
}

/**
 * Fetches an npm package's tarball (`.tgz` bytes): the URL comes from `npm view` (so npm's registry
 * configuration applies) and the download streams with progress; if that fails, `npm pack` fetches it.
 */
export async function fetchNpmTarball(spec: string, onProgress?: (progress: DownloadProgress) => void): Promise<Uint8Array> {
  let url: string | undefined;
  try {
    const { stdout } = await run(npm, ['view', spec, 'dist.tarball'], { timeout: 60_000 });
    url = stdout.trim() || undefined;
  } catch {
    url = undefined;
  }
  if (url) {
    try {
      return await download(url, onProgress);
    } catch {
      // a proxy or an authenticated registry that Node's fetch cannot reach: let npm do it
    }
  }
  return npmPack(spec, onProgress);
}

async function download(url: string, onProgress?: (progress: DownloadProgress) => void): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`GET ${url}: HTTP ${response.status}`);
  const length = Number(response.headers.get('content-length'));
  const totalBytes = Number.isFinite(length) && length > 0 ? length : undefined;
  const chunks: Uint8Array[] = [];
  let receivedBytes = 0;
  onProgress?.({ receivedBytes, totalBytes });
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    receivedBytes += chunk.byteLength;
    onProgress?.({ receivedBytes, totalBytes });
  }
  const bytes = new Uint8Array(receivedBytes);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

async function npmPack(spec: string, onProgress?: (progress: DownloadProgress) => void): Promise<Uint8Array> {
  const folder = await mkdtemp(join(tmpdir(), 'adakv-pack-'));
  try {
    onProgress?.({ receivedBytes: 0, totalBytes: undefined });
    await run(npm, ['pack', spec, '--pack-destination', folder, '--silent'], { timeout: 600_000 });
    const file = (await readdir(folder)).find((name) => name.endsWith('.tgz'));
    if (!file) throw new Error(`npm pack ${spec} produced no tarball`);
    const bytes = new Uint8Array(await readFile(join(folder, file)));
    onProgress?.({ receivedBytes: bytes.byteLength, totalBytes: bytes.byteLength });
    return bytes;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
