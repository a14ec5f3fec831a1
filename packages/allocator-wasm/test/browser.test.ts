import { existsSync, readFileSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built package (dist/ + wasm/) loaded by headless Chromium from a plain static server: the default
// `new URL('../wasm/allocator.wasm', import.meta.url)` must resolve and instantiate in a browser.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const packageDir = fileURLToPath(new URL('../', import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(chromiumPath);
const types: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const page = `<!doctype html><script type="importmap">
{ "imports": { "@assemblyscript/loader": "/node_modules/@assemblyscript/loader/index.js" } }
</script>`;

describe.skipIf(!available && process.env.CI !== 'true')('in a browser (headless Chromium)', () => {
  let server: Server;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    const built = join(packageDir, 'dist/index.js');
    const newest = Math.max(...['src/block-pool.ts', 'src/allocator.ts', 'src/wasm-source.ts'].map((f) => statSync(join(packageDir, f)).mtimeMs));
    if (!existsSync(built) || statSync(built).mtimeMs < newest) throw new Error('dist/ is missing or older than src/: run `npm run build` first.');
    server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      if (path === '/') return void response.writeHead(200, { 'content-type': 'text/html' }).end(page);
      const file = normalize(join(repoRoot, path));
      if (!file.startsWith(repoRoot) || !existsSync(file)) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
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
});
