import { existsSync, readFileSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built package (dist/ + wasm/) loaded by headless Chromium from a plain static server: the default
// `new URL('../wasm/allocator.wasm', import.meta.url)` must resolve and instantiate in a browser, and the
// engine must pick the threads variant on a cross-origin isolated page (the server sends COOP/COEP
// under /isolated/) and the single-thread variant otherwise (both relaxed SIMD, which Chromium
// validates), with the same logits either way.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const packageDir = fileURLToPath(new URL('../', import.meta.url));
const chromiumPath = process.env.ADAKV_CHROMIUM ?? '/usr/bin/chromium';
const types: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const page = `<!doctype html><script type="importmap">
{ "imports": { "@assemblyscript/loader": "/node_modules/@assemblyscript/loader/index.js" } }
</script>`;
const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

describe('in a browser (headless Chromium)', () => {
  let server: Server;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    const built = join(packageDir, 'dist/index.js');
    const sources = ['src/block-pool.ts', 'src/allocator.ts', 'src/wasm-source.ts', 'src/engine.ts', 'src/threads.ts', 'src/wasm-model.ts'];
    const newest = Math.max(...sources.map((f) => statSync(join(packageDir, f)).mtimeMs));
    if (!existsSync(built) || statSync(built).mtimeMs < newest) throw new Error('dist/ is missing or older than src/: run `npm run build` first.');
    server = createServer((request, response) => {
      let path = new URL(request.url ?? '/', 'http://x').pathname;
      // Everything under /isolated/ is the same file tree, served cross-origin isolated.
      const isolated = path.startsWith('/isolated/');
      if (isolated) path = path.slice('/isolated'.length);
      const headers = isolated ? ISOLATION_HEADERS : {};
      if (path === '/') return void response.writeHead(200, { 'content-type': 'text/html', ...headers }).end(page);
      const file = normalize(join(repoRoot, path));
      if (!file.startsWith(repoRoot) || !existsSync(file)) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', ...headers }).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('loads allocator.wasm from its default URL and runs the pool, attention and selection', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${origin}/`);
    // A string, so vitest's transform leaves the browser-side dynamic import alone.
    const script = `(async () => {
      const { BlockPool, selectAdaptive } = await import('/packages/allocator-wasm/dist/index.js');
      const pool = await BlockPool.create({ headDim: 2, blockSize: 2 });
      const sequence = pool.addSequence(1, 1);
      pool.append(sequence, 0, Float32Array.of(1000, 0, 0, 1000, 0, 0), Float32Array.of(1, 0, 0, 1, 5, 5), Int32Array.of(0, 1, 2));
      pool.compact(sequence, 0, [Int32Array.of(0, 1)]);
      const out = new Float32Array(2);
      pool.attend(sequence, 0, Float32Array.of(1, 0), out);
      const selection = selectAdaptive(pool.allocator, Float32Array.of(3, 1, 2, 0), 1, 2, 0.2);
      return { out: Array.from(out), stats: pool.stats(), kept: Array.from(selection.kept[0]) };
    })()`;
    const result = (await tab.evaluate(script)) as { out: number[]; stats: { usedBlocks: number }; kept: number[] };
    expect(result.out).toEqual([1, 0]);
    expect(result.stats.usedBlocks).toBe(1);
    expect(result.kept).toEqual([0, 2]);
  }, 60_000);

  // A small random model, prefill and two decode steps, with 2 threads requested.
  const engineScript = (base: string) => `(async () => {
    const { Engine, relaxedSimdSupported } = await import('${base}/packages/allocator-wasm/dist/index.js');
    const engine = await Engine.load({ threads: 2 });
    let seed = 7;
    const random = (n, scale) => Float32Array.from({ length: n }, () => { seed = (seed * 1103515245 + 12345) >>> 0; return ((seed / 2 ** 32) * 2 - 1) * scale; });
    const config = { dim: 32, hiddenDim: 64, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 8, vocabSize: 20, contextLength: 16, normEps: 1e-5 };
    const rope = (f) => Float32Array.from({ length: 16 * 4 }, (_, i) => f(Math.floor(i / 4) * 10 ** (-(i % 4) / 4)));
    const embedding = random(20 * 32, 1);
    const layer = () => ({ attentionNorm: random(32, 0.1).map((v) => 1 + v), wq: random(32 * 32, 0.2), wk: random(16 * 32, 0.2), wv: random(16 * 32, 0.2),
      wo: random(32 * 32, 0.2), ffnNorm: random(32, 0.1).map((v) => 1 + v), w1: random(64 * 32, 0.2), w2: random(32 * 64, 0.2), w3: random(64 * 32, 0.2) });
    const model = engine.loadModel(config, { tokenEmbedding: embedding, classifier: embedding, finalNorm: random(32, 0.1).map((v) => 1 + v),
      ropeCos: rope(Math.cos), ropeSin: rope(Math.sin), layers: [layer(), layer()] }, { quantize: 'q8_0' });
    const pool = engine.createPool({ headDim: 8, blockSize: 4 });
    const sequence = pool.addSequence(2, 2);
    const logits = [Array.from(model.prefill(pool, sequence, [1, 5, 9, 3, 3, 7]).logits)];
    logits.push(Array.from(model.decode(pool, sequence, 4, 6)));
    logits.push(Array.from(model.decode(pool, sequence, 11, 7)));
    const result = { variant: engine.variant, threads: engine.threads, notice: engine.notice, isolated: self.crossOriginIsolated, relaxed: relaxedSimdSupported(), logits };
    engine.dispose();
    return result;
  })()`;

  it('chooses the threads variant on a cross-origin isolated page and the single-thread one elsewhere, same logits', async () => {
    const plain = await browser.newPage();
    await plain.goto(`${origin}/`);
    const single = (await plain.evaluate(engineScript(''))) as { variant: string; threads: number; notice: string; isolated: boolean; relaxed: boolean; logits: number[][] };
    const isolatedTab = await browser.newPage();
    await isolatedTab.goto(`${origin}/isolated/`);
    const threaded = (await isolatedTab.evaluate(engineScript('/isolated'))) as typeof single;
    console.log(`not isolated: ${single.variant} (${single.notice})\nisolated: ${threaded.variant} (${threaded.notice})`);
    // Chromium validates the standardized relaxed-SIMD opcodes, so the relaxed builds run.
    expect(single.relaxed).toBe(true);
    expect(single.isolated).toBe(false);
    expect(single.variant).toBe('relaxed-simd');
    expect(single.notice).toMatch(/not cross-origin isolated/);
    expect(threaded.isolated).toBe(true);
    expect(threaded.variant).toBe('relaxed-simd-threads');
    expect(threaded.threads).toBe(2);
    expect(threaded.logits).toEqual(single.logits);
    expect(single.logits[2]!.every(Number.isFinite)).toBe(true);
  }, 120_000);
});
