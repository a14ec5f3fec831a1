import { cacheGeometry } from '@adakv/core';
import { ensureDefaultModel, loadDefaultModel } from '@adakv/core/node';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/main.js';
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
  it('verifies the cache and refuses a tampered copy with exit code 3', async () => {
    const files = await ensureDefaultModel();
    const cacheDir = join(scratch, 'cache');
    await mkdir(join(cacheDir, 'stories15M'), { recursive: true });
    await copyFile(files.modelPath, join(cacheDir, 'stories15M', 'model.bin'));
    await copyFile(files.tokenizerPath, join(cacheDir, 'stories15M', 'tokenizer.bin'));
    const ok = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', cacheDir], ok)).toBe(0);
    const listed = captureIo();
    expect(await runCli(['models', '--cache-dir', cacheDir], listed)).toBe(0);
    expect(listed.out()).toMatch(/stories15M \(default\).*verified/);
    const tokenizer = await readFile(join(cacheDir, 'stories15M', 'tokenizer.bin'));
    tokenizer[1000] = tokenizer[1000]! ^ 0xff;
    await writeFile(join(cacheDir, 'stories15M', 'tokenizer.bin'), tokenizer);
    const damaged = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', cacheDir], damaged)).toBe(3);
    expect(damaged.err()).toMatch(/modified \(sha256 mismatch\).*pull --force/);
    const empty = captureIo();
    expect(await runCli(['models', 'verify', '--cache-dir', join(scratch, 'none')], empty)).toBe(2);
    expect(empty.err()).toMatch(/not cached/);
  });
});

describe('the built adakv binary', () => {
  it("prints help with every command and exits 2 on an unknown one", { timeout: 60_000 }, () => {
    execFileSync('npx', ['tsup', '--silent'], { cwd: join(import.meta.dirname, '..') });
    const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const command of ['run', 'inspect', 'eval', 'models', 'serve']) expect(help.stdout).toContain(`  ${command}`);
    const unknown = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
