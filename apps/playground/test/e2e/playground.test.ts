import { DEMO_PROMPT, Generator, type Model, ReferenceStore, WasmBackend, cacheGeometry, compress, describeBytePlan, loadModel } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Core's own test writer of GGUF files: a real stories15M GGUF without shipping one.
import { modelToGguf } from '../../../../packages/core/test/model/gguf-writer.js';
import { EVICT_EVERY } from '../../src/settings.js';
import { ISOLATION_HEADERS, type StaticServer, serveStatic } from './static-server.js';

const app = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(app, 'dist');
const artifacts = join(app, 'test-artifacts');
const BASE = '/hosted/under/a/path/'; // the build must work under any base path
/** The JavaScript budget of the page, model and .wasm excluded (see README). */
const BUNDLE_BUDGET_BYTES = 304 * 1024;
/** Debian's Chromium by default; `ADAKV_CHROMIUM` points elsewhere. */
const CHROMIUM = process.env.ADAKV_CHROMIUM ?? '/usr/bin/chromium';
const baseFlags = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let server: StaticServer;
let browser: Browser;

interface OpenOptions {
  query?: string;
  site?: StaticServer;
  ready?: boolean;
  /** Collects the path of every request the page itself makes (its service worker's are not counted). */
  requests?: string[];
  /** Counts the page's loads (the service worker's one reload on a host without headers makes 2). */
  loads?: { count: number };
  /** Opens the page in this context instead of a fresh one. */
  context?: BrowserContext;
}

/**
 * A fresh browser context (empty caches, no service worker) on the site; resolves once the default
 * model is ready (on a host without isolation headers: after the service worker's one reload).
 */
async function open(b: Browser, errors: string[], { query = '', site = server, ready = true, requests, loads, context }: OpenOptions = {}): Promise<Page> {
  const viewport = { width: 1100, height: 1600 };
  const page = context ? await context.newPage() : await b.newPage({ viewport });
  if (context) await page.setViewportSize(viewport);
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  page.on('pageerror', (error) => errors.push(error.message));
  if (requests) page.on('request', (request) => requests.push(new URL(request.url()).pathname));
  if (loads) page.on('load', () => loads.count++);
  await page.goto(`${site.origin}${BASE}${query}`);
  if (ready) await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  return page;
}

async function generateWith(page: Page, steps: number, backend: string): Promise<void> {
  await page.fill('#steps', String(steps));
  await page.selectOption('#method', 'ada-snapkv');
  await page.selectOption('#backend', backend);
  await page.click('#generate');
  await page.waitForSelector('body[data-state="done"]', { timeout: 120_000 });
}

interface LiveFrame {
  step: number;
  layerMeans: number[];
  heldTotal: number;
  evictedSoFar: number;
}

/**
 * With a cache limit set, the live view redraws during the run: several frames, steps going forward,
 * every layer within the limit, evictions counted; the last frame stays. The page gives core's tokens.
 */
async function expectLiveView(page: Page): Promise<void> {
  await page.fill('#maxCacheTokens', String(LIVE_LIMIT));
  // Every frame the page draws, as it draws it.
  await page.evaluate(() => {
    const chart = document.getElementById('live-cache')!;
    const seen: unknown[] = ((window as unknown as { liveFrames: unknown[] }).liveFrames = []);
    // a later run without a limit clears the frame: nothing to record then
    new MutationObserver(() => chart.dataset.frame && seen.push(JSON.parse(chart.dataset.frame))).observe(chart, { attributeFilter: ['data-frame'] });
  });
  await generateWith(page, 24, 'wasm');
  expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(reference.evicting.tokens);
  const frames = await page.evaluate(() => (window as unknown as { liveFrames: LiveFrame[] }).liveFrames);
  expect(frames.length).toBeGreaterThan(1);
  expect(await page.getAttribute('#live-cache', 'data-frames')).toBe(String(frames.length));
  frames.slice(1).forEach((frame, i) => {
    expect(frame.step).toBeGreaterThan(frames[i]!.step);
    expect(frame.evictedSoFar).toBeGreaterThanOrEqual(frames[i]!.evictedSoFar);
  });
  for (const frame of frames) for (const mean of frame.layerMeans) expect(mean).toBeLessThanOrEqual(LIVE_LIMIT);
  expect(new Set(frames.map((f) => f.heldTotal)).size).toBeGreaterThan(1); // the view changed as it decoded
  const last = frames.at(-1)!;
  expect(last.step).toBe(reference.evicting.tokens.length);
  expect(last.evictedSoFar).toBe(reference.evicting.evicted);
  expect(last.evictedSoFar).toBeGreaterThan(frames[0]!.evictedSoFar); // evicted during decode, not only at its start
  const { layers, kvHeads } = reference.geometry;
  expect(await page.locator('#live-cache rect.cell').count()).toBe(layers * kvHeads);
  const summary = await page.textContent('#live-cache-summary');
  expect(summary).toContain(`Step ${last.step} of 24: ${last.heldTotal} entries held`);
  expect(summary).toContain(`(limit ${LIVE_LIMIT}). Evicted by the cache limit so far: ${last.evictedSoFar}`);
  await page.screenshot({ path: join(artifacts, 'live-cache.png'), fullPage: true });
}

/** What core gives in Node for the runs the page is held to (computed while the site builds). */
interface NodeReference {
  /** 32 greedy tokens of DEMO_PROMPT with Ada-SnapKV (budget 48, window 16, alpha 0.2): the form's defaults. */
  readonly adaSnapkv: { tokens: number[]; text: string };
  /** 24 greedy tokens of DEMO_PROMPT with the same settings and a cache limit of 32 per head while decoding. */
  readonly evicting: { tokens: number[]; evicted: number };
  /** stories15M as a q8_0 GGUF file, and its first 8 tokens after SHORT_PROMPT with the same settings. */
  readonly gguf: { bytes: Uint8Array; tokens: number[] };
  readonly geometry: { layers: number; kvHeads: number };
  /** 16 greedy tokens of DEMO_PROMPT with a KV byte budget of 1/16 of the full cache (wasm backend). */
  readonly byteBudget: { tokens: number[]; plan: string };
}
let reference: NodeReference;
/** The cache limit per head of the live view's run (the window, 16, plus 16: evictions bring layers to 24). */
const LIVE_LIMIT = 32;
/** About 70 tokens: still compressed at 48 per head, quicker to prefill. */
const SHORT_PROMPT = DEMO_PROMPT.split('. ').slice(0, 3).join('. ');

const adaSnapkv = (model: Model) =>
  new Generator(model, {
    store: new ReferenceStore(cacheGeometry(model.config)),
    afterPrefill: ({ store, observations }) => compress(store, observations, { method: 'ada-snapkv', budget: 48, options: { window: 16, alpha: 0.2 } }),
  });

async function nodeReference(): Promise<NodeReference> {
  const model = await loadDefaultModel();
  const full = await adaSnapkv(model).generate(DEMO_PROMPT, { steps: 32 });
  const limited = new Generator(model, {
    eviction: { method: 'ada-snapkv', maxTokensPerHead: LIVE_LIMIT, every: EVICT_EVERY, options: { window: 16, alpha: 0.2 } },
    afterPrefill: ({ store, observations }) => compress(store, observations, { method: 'ada-snapkv', budget: 48, options: { window: 16, alpha: 0.2 } }),
  });
  const evicting = { tokens: (await limited.generate(DEMO_PROMPT, { steps: 24 })).tokens, evicted: limited.eviction!.evictedTokens };
  // The writer is typed against core's sources, this test against its build: the same Model.
  const bytes = modelToGguf(model as unknown as Parameters<typeof modelToGguf>[0], 'q8_0');
  const gguf = await adaSnapkv(await loadModel(bytes)).generate(SHORT_PROMPT, { steps: 8 });
  const wasm = await WasmBackend.create();
  const budgeted = new Generator(model, { backend: wasm, kvBytes: { bytes: { fraction: 1 / 16 }, options: { window: 16, alpha: 0.2 } } });
  const byBytes = await budgeted.generate(DEMO_PROMPT, { steps: 16 });
  const byteBudget = { tokens: byBytes.tokens, plan: byBytes.prefill.bytePlan ? describeBytePlan(byBytes.prefill.bytePlan) : 'none' };
  budgeted.store.dispose();
  wasm.dispose();
  return { adaSnapkv: { tokens: full.tokens, text: full.text }, evicting, gguf: { bytes, tokens: gguf.tokens }, geometry: cacheGeometry(model.config), byteBudget };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`The end-to-end suite drives Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set ADAKV_CHROMIUM.`);
  // Vitest sets NODE_ENV=test, which would make Vite build a development bundle: build as users do.
  const { NODE_ENV: _vitestMode, ...env } = process.env;
  const build = promisify(execFile)('npm', ['run', 'build'], { cwd: app, env });
  [reference] = await Promise.all([nodeReference(), build]);
  mkdirSync(artifacts, { recursive: true });
  server = await serveStatic(dist, BASE);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...baseFlags, '--enable-unsafe-webgpu'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the playground in Chromium', () => {
  it('loads the model without console errors and finds a WebGPU adapter', async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    expect(await page.textContent('#model-status')).toMatch(/stories15M: 6 layers/);
    expect(await page.evaluate(async () => Boolean(await (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()))).toBe(true);
    // Every form control has a label, every button a name.
    expect(await page.$$eval('input, select, textarea', (controls) => controls.filter((c) => (c as HTMLInputElement).labels?.length === 0).map((c) => c.id))).toEqual([]);
    expect(await page.$$eval('button', (buttons) => buttons.filter((b) => !b.textContent?.trim()).length)).toBe(0);
    await page.screenshot({ path: join(artifacts, 'loaded.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('generates with Ada-SnapKV exactly the tokens the CPU path gives in Node, and draws one cell per head', async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    await page.context().setOffline(true); // once loaded, the page needs no network
    await generateWith(page, 32, 'wasm');
    const tokens = JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!);
    expect(tokens).toEqual(reference.adaSnapkv.tokens);
    expect(await page.textContent('#answer-compressed')).toBe(reference.adaSnapkv.text);
    const { layers, kvHeads } = reference.geometry;
    expect(await page.locator('#heatmap rect.cell').count()).toBe(layers * kvHeads);
    expect(await page.locator('#curves polyline').count()).toBe(layers * kvHeads);
    expect(await page.locator('#mass rect.bar').count()).toBe(2 * layers);
    expect(await page.textContent('#stat-ratio')).toMatch(/^\d+\.\d\dx now, \d+\.\d\dx after prefill$/);
    expect(await page.textContent('#takeaway')).toMatch(/the most concentrated head holds 90% of its attention in \d+% of its cache/);
    await page.screenshot({ path: join(artifacts, 'generated.png'), fullPage: true });
    expect(await page.locator('#live-cache svg').count()).toBe(0); // no limit, no live view
    await expectLiveView(page);
    // one KV byte budget: the page plans format and entries as core does in Node
    await page.fill('#maxCacheTokens', '');
    await page.fill('#kvBytes', '1/16');
    await generateWith(page, 16, 'wasm');
    expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(reference.byteBudget.tokens);
    expect(await page.textContent('#run-status')).toContain(`Byte plan: ${reference.byteBudget.plan}.`);
    // the window in f32 (a ticked checkbox reaches the plan)
    await page.fill('#kvBytes', '1/3');
    await page.fill('#window', '8');
    await page.check('#fullPrecisionWindow');
    await generateWith(page, 4, 'wasm');
    expect(await page.textContent('#run-status')).toMatch(/Byte plan: .*, the 8-token window in f32, /);
    await page.uncheck('#fullPrecisionWindow');
    await page.fill('#window', '16');
    await page.fill('#kvBytes', '');
    await page.setViewportSize({ width: 390, height: 844 }); // a phone: nothing may stick out sideways
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(artifacts, 'phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('generates on WebGPU, the whole model on the GPU, the tokens the CPU gives in Node; auto keeps to WASM on a software GPU', async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    // 8 tokens: SwiftShader runs every kernel on the CPU; greedy decoding makes them a prefix of the 32
    await generateWith(page, 8, 'webgpu');
    expect(await page.textContent('#run-status')).toMatch(/Done on WebGPU/);
    expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(reference.adaSnapkv.tokens.slice(0, 8));
    await generateWith(page, 4, 'auto');
    expect(await page.textContent('#run-status')).toMatch(/^WebGPU here is a software renderer \(.*swiftshader.*\), slower than WASM/i);
    await page.screenshot({ path: join(artifacts, 'webgpu.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it("runs a user's own GGUF file (picked in the page) and gives the tokens core gives in Node", async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    await page.setInputFiles('#model-files', [{ name: 'stories15M-q8_0.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(reference.gguf.bytes) }]);
    await page.waitForSelector('#model-status:has-text("stories15M-q8_0.gguf: 6 layers")');
    await page.fill('#prompt', SHORT_PROMPT);
    await generateWith(page, 8, 'wasm');
    expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(reference.gguf.tokens);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('shows a clear message for a corrupt model file dropped on the page', async () => {
    const errors: string[] = [];
    const page = await open(browser, errors);
    const dataTransfer = await page.evaluateHandle(() => {
      const files = new DataTransfer();
      files.items.add(new File([new Uint8Array(64).fill(7)], 'model.bin'));
      files.items.add(new File([new Uint8Array(64).fill(1)], 'tokenizer.bin'));
      return files;
    });
    await page.dispatchEvent('#answers-heading', 'drop', { dataTransfer }); // anywhere, not only on the zone
    await page.waitForSelector('#model-status.error');
    expect(await page.textContent('#model-status')).toMatch(/^That file cannot be used: .+ Still using stories15M\.$/);
    expect(await page.isDisabled('#generate')).toBe(false); // the model loaded before stays usable
    await page.screenshot({ path: join(artifacts, 'corrupt-model.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});

describe('hosting', () => {
  it('checks the downloaded model against its sha256', async () => {
    const errors: string[] = [];
    const page = await (await browser.newContext()).newPage();
    await page.route('**/tokenizer.bin', async (route) => {
      const body = Buffer.from(await (await route.fetch()).body());
      body.writeUInt8(body.readUInt8(1000) ^ 1, 1000); // one flipped bit, same size
      await route.fulfill({ body });
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.origin}${BASE}`);
    await page.waitForSelector('#model-status.error');
    expect(await page.textContent('#model-status')).toMatch(/tokenizer.bin did not arrive intact/);
    expect(await page.isDisabled('#generate')).toBe(true);
    await page.screenshot({ path: join(artifacts, 'hash-mismatch.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('loads allocator.wasm from a URL given by ?wasm=, and says so when that URL is wrong', async () => {
    const wasm = readdirSync(join(dist, 'assets')).find((f) => f.endsWith('.wasm'))!;
    const elsewhere = await serveStatic(dist, BASE, { '/elsewhere/allocator.wasm': join(dist, 'assets', wasm) });
    try {
      const errors: string[] = [];
      const byThePage: string[] = [];
      const page = await open(browser, errors, { query: '?wasm=/elsewhere/allocator.wasm', site: elsewhere, requests: byThePage });
      await generateWith(page, 4, 'wasm');
      // The service worker keeps the bundled copies for offline use; the page itself must not use them.
      expect(byThePage).toContain('/elsewhere/allocator.wasm');
      expect(byThePage.filter((path) => path.startsWith(`${BASE}assets/`) && path.endsWith('.wasm'))).toEqual([]);
      expect(elsewhere.requests).toContain('/elsewhere/allocator.wasm');
      // One file is one build: single-threaded, and the page says so.
      expect(await page.textContent('#run-status')).toMatch(/single thread .*The allocator given by \?wasm= is the single-thread build\.$/);
      expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toHaveLength(4);
      expect(errors).toEqual([]);
      await page.close();
      const broken = await open(browser, [], { query: '?wasm=/nowhere/allocator.wasm', site: elsewhere, ready: false });
      await broken.waitForSelector('#model-status.error');
      expect(await broken.textContent('#model-status')).toMatch(/WebAssembly allocator/);
      await broken.close();
    } finally {
      await elsewhere.close();
    }
  }, 120_000);

  it('opens and generates with no server at all after one visit (service worker + cached model)', async () => {
    const site = await serveStatic(dist, BASE);
    const errors: string[] = [];
    const page = await open(browser, errors, { site });
    await page.waitForSelector('body[data-offline="ready"]', { timeout: 30_000 });
    expect(await page.textContent('#offline-status')).toMatch(/page and its model now open and run without network/);
    await site.close();
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    expect(await page.textContent('#model-status')).toMatch(/from this browser's storage/);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true); // the kept page gets the headers too
    await generateWith(page, 4, 'wasm');
    expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toHaveLength(4);
    await page.screenshot({ path: join(artifacts, 'offline.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});

describe('cross-origin isolation (WASM threads)', () => {
  /** The WASM engine's thread count here: the available cores, at most 16. */
  const threadsHere = (page: Page) => page.evaluate(() => Math.min(16, navigator.hardwareConcurrency));
  const threadsBuild = (threads: number) => new RegExp(`allocator\\.(relaxed-)?threads\\.wasm .*, ${threads} threads over one shared memory\\.$`);

  it('on a host that sends COOP/COEP: isolated at once, no reload, and the WASM engine runs its threads build', async () => {
    const site = await serveStatic(dist, BASE, {}, ISOLATION_HEADERS);
    try {
      const errors: string[] = [];
      const loads = { count: 0 };
      const page = await open(browser, errors, { site, loads });
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(loads.count).toBe(1);
      const threads = await threadsHere(page);
      expect(threads).toBeGreaterThan(1); // the machines this runs on have at least 2 cores
      expect(await page.textContent('#run-status')).toMatch(threadsBuild(threads)); // said before any run
      await generateWith(page, 8, 'wasm');
      const status = (await page.textContent('#run-status'))!;
      expect(status).toMatch(/^Done on WebAssembly engine: /);
      expect(status).toMatch(threadsBuild(threads));
      // threads change nothing in the results
      expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(reference.adaSnapkv.tokens.slice(0, 8));
      await page.screenshot({ path: join(artifacts, 'isolated-headers.png'), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await site.close();
    }
  }, 120_000);

  it('on a plain static host: the service worker adds the headers after exactly one reload, and no more reloads follow', async () => {
    const errors: string[] = [];
    const loads = { count: 0 };
    const page = await open(browser, errors, { loads }); // `server` sends no headers
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(loads.count).toBe(2);
    expect(await page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
    const threads = await threadsHere(page);
    await generateWith(page, 4, 'wasm');
    expect(await page.textContent('#run-status')).toMatch(threadsBuild(threads));
    // controlled from now on: a later visit is isolated at once
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(loads.count).toBe(3);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('on a plain host where no service worker can run: one thread, no reload, and the page says why', async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    try {
      const errors: string[] = [];
      const loads = { count: 0 };
      const page = await open(browser, errors, { context, loads });
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
      expect(loads.count).toBe(1);
      await generateWith(page, 8, 'wasm');
      const status = (await page.textContent('#run-status'))!;
      expect(status).toMatch(/^Done on WebAssembly engine: allocator\.(relaxed\.)?wasm .*single thread\. \d+ threads were requested, but .*so it runs single-threaded\./);
      expect(status).toMatch(/Why it is not isolated: this host sends no Cross-Origin-Opener-Policy\/Cross-Origin-Embedder-Policy headers, and .*service worker/);
      expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toEqual(reference.adaSnapkv.tokens.slice(0, 8));
      await page.screenshot({ path: join(artifacts, 'not-isolated.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});

describe('the playground without WebGPU', () => {
  it('falls back to WASM, says so, generates, and stops a long run on Stop', async () => {
    const plain = await chromium.launch({ executablePath: CHROMIUM, args: [...baseFlags, '--disable-features=WebGPU'] });
    try {
      const errors: string[] = [];
      const page = await open(plain, errors);
      await page.fill('#steps', '8');
      await page.focus('#window');
      await page.keyboard.press('Enter'); // the keyboard alone starts a run
      await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
      expect(await page.textContent('#run-status')).toMatch(/WebGPU is not available: .*Using the WASM backend instead/);
      expect(JSON.parse((await page.getAttribute('#answer-compressed', 'data-tokens'))!)).toHaveLength(8);
      await page.screenshot({ path: join(artifacts, 'wasm-fallback.png'), fullPage: true });
      // Stop ends a long run between tokens and the form is ready again.
      await page.fill('#steps', '120');
      await page.click('#generate');
      await page.waitForFunction(() => (document.getElementById('answer-compressed')?.textContent ?? '').length > 0);
      await page.click('#stop');
      await page.waitForSelector('body[data-state="done"]');
      expect(await page.textContent('#run-status')).toBe('Stopped.');
      expect(await page.isEnabled('#generate')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await plain.close();
    }
  }, 180_000);
});

describe('the bundle', () => {
  it(`keeps the page's JavaScript under ${BUNDLE_BUDGET_BYTES / 1024} KiB (model and .wasm excluded)`, () => {
    const js = [...readdirSync(join(dist, 'assets')).map((f) => join('assets', f)), ...readdirSync(dist)].filter((f) => f.endsWith('.js'));
    const total = js.reduce((sum, f) => sum + statSync(join(dist, f)).size, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(BUNDLE_BUDGET_BYTES);
  });
});
