import { DEMO_PROMPT, Generator, PagedStore, cacheGeometry, compress, loadModel } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Core's own test writer of GGUF files: a real stories15M GGUF without shipping one.
import { modelToGguf } from '../../../../packages/core/test/model/gguf-writer.js';

const app = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(app, 'dist');
const artifacts = join(app, 'test-artifacts');
const BASE = '/hosted/under/a/path/'; // the build must work under any base path
/** The JavaScript budget of the page, model and .wasm excluded (see README). */
const BUNDLE_BUDGET_BYTES = 160 * 1024;
const types: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
};
const baseFlags = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let server: Server;
let origin: string;
let browser: Browser;

async function open(b: Browser, errors: string[]): Promise<Page> {
  const page = await b.newPage({ viewport: { width: 1100, height: 1600 } });
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${origin}${BASE}`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  return page;
}

async function generateWith(page: Page, steps: number, backend: string): Promise<void> {
  await page.fill('#steps', String(steps));
  await page.selectOption('#method', 'ada-snapkv');
  await page.selectOption('#backend', backend);
  await page.click('#generate');
  await page.waitForSelector('body[data-state="done"]', { timeout: 120_000 });
}

beforeAll(async () => {
  execFileSync('npm', ['run', 'build'], { cwd: app, stdio: 'ignore' });
  mkdirSync(artifacts, { recursive: true });
  server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    if (!path.startsWith(BASE)) return void response.writeHead(404).end();
    const relative = path.slice(BASE.length) || 'index.html';
    const file = normalize(join(dist, relative));
    if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) return void response.writeHead(404).end();
    const body = readFileSync(file);
    response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': body.byteLength }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...baseFlags, '--enable-unsafe-webgpu'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe('the playground in Chromium', () => {
  it('loads the model without console errors and finds a WebGPU adapter', async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    expect(await page.textContent('#model-status')).toMatch(/stories15M: 6 layers/);
    expect(await page.evaluate(async () => Boolean(await (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()))).toBe(true);
    await page.screenshot({ path: join(artifacts, 'loaded.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('generates with Ada-SnapKV exactly the tokens the CPU path gives in Node, and draws one cell per head', async () => {
    const model = await loadDefaultModel();
    const expected = await new Generator(model, {
      store: await PagedStore.create(cacheGeometry(model.config)),
      afterPrefill: ({ store, observations }) => compress(store, observations, { method: 'ada-snapkv', budget: 48, options: { window: 16, alpha: 0.2 } }),
    }).generate(DEMO_PROMPT, { steps: 32 });
    const errors: string[] = [];
    const page = await open(browser, errors);
    await page.context().setOffline(true); // once loaded, the page needs no network
    await generateWith(page, 32, 'wasm');
    const tokens = JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!);
    expect(tokens).toEqual(expected.tokens);
    expect(await page.textContent('#answer-compressed')).toBe(expected.text);
    const { layers, kvHeads } = cacheGeometry(model.config);
    expect(await page.locator('#heatmap rect.cell').count()).toBe(layers * kvHeads);
    expect(await page.locator('#curves polyline').count()).toBe(layers * kvHeads);
    expect(await page.locator('#mass rect.bar').count()).toBe(2 * layers);
    expect(await page.textContent('#stat-ratio')).toMatch(/x after prefill/);
    await page.screenshot({ path: join(artifacts, 'generated.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('generates on WebGPU (auto picks it) the same tokens as the CPU in Node', async () => {
    const model = await loadDefaultModel();
    const expected = await new Generator(model, {
      afterPrefill: ({ store, observations }) => compress(store, observations, { method: 'ada-snapkv', budget: 48, options: { window: 16, alpha: 0.2 } }),
    }).generate(DEMO_PROMPT, { steps: 32 });
    const errors: string[] = [];
    const page = await open(browser, errors);
    await generateWith(page, 32, 'auto');
    expect(await page.textContent('#run-status')).toMatch(/Done on WebGPU/);
    expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(expected.tokens);
    await page.screenshot({ path: join(artifacts, 'webgpu.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it("runs a user's own GGUF file (dropped in) and gives the tokens core gives in Node", async () => {
    // The writer is typed against core's sources, this test against its build: the same Model.
    const gguf = modelToGguf((await loadDefaultModel()) as unknown as Parameters<typeof modelToGguf>[0], 'q8_0');
    const expected = await new Generator(await loadModel(gguf), {
      afterPrefill: ({ store, observations }) => compress(store, observations, { method: 'ada-snapkv', budget: 48, options: { window: 16, alpha: 0.2 } }),
    }).generate(DEMO_PROMPT, { steps: 8 });
    const errors: string[] = [];
    const page = await open(browser, errors);
    await page.setInputFiles('#model-files', [{ name: 'stories15M-q8_0.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(gguf) }]);
    await page.waitForSelector('#model-status:has-text("stories15M-q8_0.gguf: 6 layers")');
    await generateWith(page, 8, 'wasm');
    expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(expected.tokens);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('shows a clear message for a corrupt model file', async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    await page.setInputFiles('#model-files', [
      { name: 'model.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(64, 7) },
      { name: 'tokenizer.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(64, 1) },
    ]);
    await page.waitForSelector('#model-status.error');
    expect(await page.textContent('#model-status')).toMatch(/That file cannot be used: /);
    await page.screenshot({ path: join(artifacts, 'corrupt-model.png'), fullPage: true });
    await page.close();
  }, 120_000);
});

describe('the playground without WebGPU', () => {
  it('falls back to WASM, says so, and still generates', async () => {
    const plain = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...baseFlags, '--disable-features=WebGPU'] });
    try {
      const errors: string[] = [];
      const page = await open(plain, errors);
      await generateWith(page, 8, 'auto');
      expect(await page.textContent('#run-status')).toMatch(/using the WASM backend/);
      expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toHaveLength(8);
      await page.screenshot({ path: join(artifacts, 'wasm-fallback.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await plain.close();
    }
  }, 180_000);
});

describe('the bundle', () => {
  it(`keeps the page's JavaScript under ${BUNDLE_BUDGET_BYTES / 1024} KiB (model and .wasm excluded)`, () => {
    const js = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js'));
    const total = js.reduce((sum, f) => sum + statSync(join(dist, 'assets', f)).size, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(BUNDLE_BUDGET_BYTES);
  });
});
