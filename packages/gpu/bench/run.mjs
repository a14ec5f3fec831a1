// `npm run bench -w @adakv/gpu`: each kernel's time (and effective bandwidth where it reads memory),
// and decode attention over an 8x-compressed cache vs the full cache at Llama-3-8B shapes (one layer:
// 32 query heads over 8 KV heads, head dim 128). Ratios come from one run on one device; on a machine
// without a GPU this is Dawn over SwiftShader (a CPU), so only the ratios mean something there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Dispatcher, GpuPagedCache, adaptiveCounts, requestGpu, windowScores } from '../dist/index.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
let gpu;
try {
  gpu = await requestGpu();
} catch (error) {
  // no GPU: run again over SwiftShader (Dawn reads the Vulkan driver list when it starts)
  if (error.code !== 'BACKEND_UNAVAILABLE' || process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER)) throw error;
  const child = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER } });
  process.exit(child.status ?? 1);
}
const [queryHeads, kvHeads, headDim] = [32, 8, 128];
const fullTokens = Number(process.env.BENCH_TOKENS ?? 4096);
const random = (n, scale = 1) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);

async function time(label, repeats, body) {
  await body(); // warm-up: pipelines compiled, buffers grown
  const start = performance.now();
  for (let i = 0; i < repeats; i++) await body();
  return (performance.now() - start) / repeats;
}

console.log(`device: ${gpu.adapterInfo}; shader-f16: ${gpu.f16}\n`);
console.log('| kernel | shape | ms per call | effective GB/s |');
console.log('| --- | --- | ---: | ---: |');

const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads, kvHeads, headDim });
cache.append(0, random(fullTokens * kvHeads * headDim), random(fullTokens * kvHeads * headDim), Int32Array.from({ length: fullTokens }, (_, t) => t));
const query = random(queryHeads * headDim);
const kvBytes = (tokens) => tokens * kvHeads * headDim * 4 * 2;
const full = await time('attention full', 10, () => cache.attend(0, query));
console.log(`| paged decode attention (split + reduce) | ${fullTokens} tokens/head, full | ${full.toFixed(2)} | ${(kvBytes(fullTokens) / full / 1e6).toFixed(2)} |`);

const kept = fullTokens / 8;
const compaction = performance.now();
cache.compact(0, Array.from({ length: kvHeads }, () => Int32Array.from({ length: kept }, (_, i) => i * 8)));
await cache.attend(0, query); // waits for the gather to finish
const compactMs = performance.now() - compaction;
console.log(`| gather compaction | ${fullTokens} -> ${kept} tokens/head | ${compactMs.toFixed(2)} | ${(kvBytes(kept) * 2 / compactMs / 1e6).toFixed(2)} |`);
const compressed = await time('attention 8x', 10, () => cache.attend(0, query));
console.log(`| paged decode attention (split + reduce) | ${kept} tokens/head, 8x compressed | ${compressed.toFixed(2)} | ${(kvBytes(kept) / compressed / 1e6).toFixed(2)} |`);

const row = random(kvHeads * headDim);
let position = fullTokens;
const append = await time('append', 50, async () => {
  cache.append(0, row, row, Int32Array.of(position++));
});
console.log(`| scatter append | 1 token x ${kvHeads} heads | ${append.toFixed(3)} | - |`);

const d = new Dispatcher(gpu);
const windowTokens = 1024;
const keys = random(windowTokens * kvHeads * headDim);
const queries = random(windowTokens * queryHeads * headDim);
const scores = await time('scores', 3, () => windowScores(d, keys, queries, { queryHeads, kvHeads, headDim, window: 32, kernelSize: 7, pooling: 'max', groupReduce: 'mean' }));
console.log(`| SnapKV window scores + pooling | ${windowTokens} tokens, window 32 | ${scores.toFixed(2)} | - |`);

const flat = random(kvHeads * (fullTokens - 32));
const counts = await time('counts', 5, () => adaptiveCounts(d, flat, kvHeads, kvHeads * 480));
console.log(`| Ada-KV counts (radix select) | ${kvHeads} x ${fullTokens - 32} scores | ${counts.toFixed(2)} | - |`);

console.log(`\ndecode attention, 8x compressed vs full: ${(full / compressed).toFixed(1)}x faster (${full.toFixed(2)} -> ${compressed.toFixed(2)} ms)`);
cache.destroy();
gpu.device.destroy();
