import { cacheGeometry } from '@adakv/core';
import { ensureDefaultModel, loadDefaultModel } from '@adakv/core/node';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/main.js';
import { describeSystemError } from '../src/system-errors.js';
import { captureIo } from './capture.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'adakv-cli-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('adakv inspect', () => {
  it('draws one SVG cell per (layer, KV head) in each of its two maps, and JSON that adds up', async () => {
    const { layers, kvHeads } = cacheGeometry((await loadDefaultModel()).config);
    const svg = join(scratch, 'heads.svg');
    const io = captureIo();
    expect(await runCli(['inspect', '--svg', svg, '--budget', '32'], io)).toBe(0);
    expect(io.out()).toMatch(/entries kept per head by ada-snapkv at 32 per head/);
    expect((await readFile(svg, 'utf8')).match(/class="cell"/g)).toHaveLength(2 * layers * kvHeads);
    const json = captureIo();
    expect(await runCli(['inspect', '--json', '--method', 'snapkv', '--budget', '32'], json)).toBe(0);
    const report = JSON.parse(json.out());
    expect(report.keptPerHead).toHaveLength(layers);
    expect(report.keptPerHead.flat()).toEqual(new Array(layers * kvHeads).fill(32)); // uniform
    expect(report.cacheShareFor90PercentMass.flat().every((p: number) => p > 0 && p <= 100)).toBe(true);
  });
});

describe('adakv eval', () => {
  it('sweeps methods and budgets into a table, JSON and a chart', async () => {
    const svg = join(scratch, 'kl.svg');
    const io = captureIo();
    const argv = ['eval', '--segments', '1', '--prefill', '64', '--continuation', '4', '--methods', 'full,snapkv', '--budgets', '16,32', '--window', '8', '--json', '--svg', svg];
    expect(await runCli(argv, io)).toBe(0);
    const report = JSON.parse(io.out());
    expect(report.rows.map((r: { method: string; budget: number }) => `${r.method}@${r.budget}`)).toEqual(['full@64', 'snapkv@16', 'snapkv@32']);
    expect(report.rows[0].kl.mean).toBe(0);
    expect(await readFile(svg, 'utf8')).toMatch(/<svg[\s\S]*snapkv/);
    const bad = captureIo();
    expect(await runCli(['eval', '--methods', 'snapkv,bogus'], bad)).toBe(2);
    expect(bad.err()).toMatch(/unknown method "bogus"/);
  });
});

describe('adakv models', () => {
  const cacheDir = () => join(scratch, 'cache');
  const cached = (name: string) => join(cacheDir(), 'stories15M', name);

  it('lists and verifies an intact copy, found through ADAKV_CACHE_DIR', async () => {
    const files = await ensureDefaultModel();
    await mkdir(join(cacheDir(), 'stories15M'), { recursive: true });
    await copyFile(files.modelPath, cached('model.bin'));
    await copyFile(files.tokenizerPath, cached('tokenizer.bin'));
    const previous = process.env.ADAKV_CACHE_DIR;
    process.env.ADAKV_CACHE_DIR = cacheDir();
    try {
      const ok = captureIo();
      expect(await runCli(['models', 'verify'], ok)).toBe(0);
      expect(ok.out()).toMatch(/model\.bin: verified[\s\S]*tokenizer\.bin: verified[\s\S]*both files match/);
      const listed = captureIo();
      expect(await runCli(['models'], listed)).toBe(0);
      expect(listed.out()).toMatch(/stories15M \(default\)\s+model\.bin\s+58\.0 MiB\s+58\.0 MiB\s+verified/);
      expect(listed.out()).toMatch(/tokenizer\.bin\s+422\.6 KiB\s+422\.6 KiB\s+verified/);
      expect(listed.out()).toContain(join(cacheDir(), 'stories15M'));
    } finally {
      if (previous === undefined) delete process.env.ADAKV_CACHE_DIR;
      else process.env.ADAKV_CACHE_DIR = previous;
    }
  });

  it('refuses a tampered or truncated copy with exit code 3, naming the file', async () => {
    const tokenizer = await readFile(cached('tokenizer.bin'));
    tokenizer[1000] = tokenizer[1000]! ^ 0xff;
    await writeFile(cached('tokenizer.bin'), tokenizer);
    const damaged = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', cacheDir()], damaged)).toBe(3);
    expect(damaged.out()).toMatch(/model\.bin: verified/);
    expect(damaged.err()).toMatch(/^error: .*tokenizer\.bin at .* is modified \(sha256 mismatch\).*pull --force/);
    expect(damaged.err()).not.toMatch(/    at /);
    const listed = captureIo();
    expect(await runCli(['models', 'list', '--cache-dir', cacheDir()], listed)).toBe(0);
    expect(listed.out()).toMatch(/tokenizer\.bin .* modified/);

    await writeFile(cached('model.bin'), (await readFile(cached('model.bin'))).subarray(0, 1000));
    const truncated = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', cacheDir()], truncated)).toBe(3);
    expect(truncated.err()).toMatch(/model\.bin at .* is truncated \(1000 of 60816028 bytes\)/);

    const empty = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', join(scratch, 'none')], empty)).toBe(2);
    expect(empty.err()).toMatch(/not cached .*adakv models pull/);
  });
});

describe('--help', () => {
  it.each([['run'], ['inspect'], ['eval'], ['serve'], ['models'], ['models', 'list'], ['models', 'pull'], ['models', 'verify'], []])(
    'of adakv %j shows usage and examples, exit code 0',
    async (...command) => {
      const io = captureIo();
      expect(await runCli([...command, '--help'], io)).toBe(0);
      expect(io.out()).toMatch(new RegExp(`^Usage: adakv ${command.join(' ')}`.trimEnd()));
      expect(io.out()).toMatch(/Examples?:\n  (ADAKV_CACHE_DIR=\S+ )?adakv /);
    },
  );

  it('answers a bad flag value with exit code 2 and the rule it broke', async () => {
    const io = captureIo();
    expect(await runCli(['eval', '--budgets', '32,abc'], io)).toBe(2);
    expect(io.err()).toMatch(/option '--budgets <list>' argument '32,abc' is invalid\. expected tokens per head/);
    expect(io.err()).toMatch(/\(run `adakv eval --help` for usage\)/);
  });
});

describe('file-system mistakes', () => {
  it.each([
    [['eval', '--svg', 'missing-folder/kl.svg'], /^error: cannot access .*missing-folder: no such file or folder \(ENOENT\)\.\n$/],
    [['inspect', '--svg', '.'], /^error: cannot open \.: is a folder, not a file \(EISDIR\)\.\n$/],
    [['models', 'pull', '--cache-dir', 'a-file/cache'], /^error: cannot mkdir .*a-file.*: a part of the path is a file, not a folder \(ENOTDIR\)\.\n$/],
  ])('%j fails at once with exit code 3 and one line', async (argv, message) => {
    await writeFile(join(scratch, 'a-file'), 'not a folder');
    const cwd = process.cwd();
    process.chdir(scratch);
    try {
      const io = captureIo();
      const started = performance.now();
      expect(await runCli(argv, io)).toBe(3);
      expect(io.err()).toMatch(message);
      expect(performance.now() - started).toBeLessThan(500); // before any model load, evaluation or download
    } finally {
      process.chdir(cwd);
    }
  });

  it('leaves other failures to the unexpected-failure path', () => {
    expect(describeSystemError(new Error('plain'))).toBeNull();
    expect(describeSystemError(Object.assign(new Error('x'), { code: 'ENOSPC', syscall: 'write' }))).toEqual({
      message: 'cannot write: no space left on the device (ENOSPC).',
      exitCode: 4,
    });
  });
});

describe('the built adakv binary', () => {
  const packageDir = join(import.meta.dirname, '..');
  // the bin entry bundled as `npm run build` bundles it, minus the slow type declarations and CJS copy
  const bin = join(packageDir, 'node_modules', '.cache', 'adakv-test-bin', 'bin.js');

  beforeAll(() => {
    const outDir = dirname(bin);
    execFileSync('npx', ['tsup', 'src/bin.ts', '--no-config', '--format', 'esm', '--target', 'es2022', '--silent', '--out-dir', outDir], { cwd: packageDir });
  }, 60_000);

  it('prints help with every command and exits 2 on an unknown one', () => {
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const command of ['run', 'inspect', 'eval', 'models', 'serve']) expect(help.stdout).toContain(`  ${command}`);
    const unknown = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('stops quietly when its reader goes away (adakv run | head)', { timeout: 60_000 }, () => {
    const piped = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" run "Once upon a time" --method full --steps 40 --no-compare | head -c 4`], { encoding: 'utf8' });
    expect(piped.stdout).toBe('Once');
    expect(piped.stderr).toBe('');
  });

  it('exits with code 130 on Ctrl-C in the middle of generation', async () => {
    const child = spawn(process.execPath, [bin, 'run', 'Once upon a time', '--method', 'full', '--steps', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      void exited.then(() => reject(new Error(`run ended before printing anything: ${stderr}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/adakv: interrupted\.\n$/);
  });
});
