// `npm run bench -w @adakv/gpu`: each kernel's time and effective bandwidth (bytes it must read or
// write over the time; FLOP rate for the matrix products), and decode attention over an 8x-compressed
// cache vs the full cache at Llama-3-8B shapes (one layer: 32 query heads over 8 KV heads, head dim
// 128), with f32 and f16 K/V storage. Ratios come from one run on one device; on a machine
// without a GPU this is Dawn over SwiftShader (a CPU), so only the ratios mean something there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dispatcher, GpuPagedCache, adaptiveCounts, encodeArgmax, encodeMatmul, encodeSoftmax, requestGpu, selectTopK, windowScores } from '../dist/index.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
let gpu;
try {
  gpu = await requestGpu();
} catch (error) {
  // no GPU: run again over SwiftShader (Dawn reads the Vulkan driver list when it starts)
  if (error.code !== 'BACKEND_UNAVAILABLE' || process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER)) throw error;
  const runtimeDir = process.env.XDG_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), 'adakv-xdg-')); // 0700: quiets Mesa
  const child = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER, XDG_RUNTIME_DIR: runtimeDir } });
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

const query = random(queryHeads * headDim);
const attention = {};
for (const kvFormat of ['f32', 'f16']) {
  const bytesPer = kvFormat === 'f16' ? 2 : 4;
  const kvBytes = (tokens) => tokens * kvHeads * headDim * bytesPer * 2;
  const cache = new GpuPagedCache(gpu, { layers: 1, queryHeads, kvHeads, headDim, kvFormat });
  cache.append(0, random(fullTokens * kvHeads * headDim), random(fullTokens * kvHeads * headDim), Int32Array.from({ length: fullTokens }, (_, t) => t));
  const full = await time('attention full', 10, () => cache.attend(0, query));
  console.log(`| paged decode attention, ${kvFormat} K/V (split + reduce) | ${fullTokens} tokens/head, full | ${full.toFixed(2)} | ${(kvBytes(fullTokens) / full / 1e6).toFixed(2)} |`);
  const kept = fullTokens / 8;
  const compaction = performance.now();
  cache.compact(0, Array.from({ length: kvHeads }, () => Int32Array.from({ length: kept }, (_, i) => i * 8)));
  await cache.attend(0, query); // waits for the gather to finish
  const compactMs = performance.now() - compaction;
  console.log(`| gather compaction, ${kvFormat} K/V | ${fullTokens} -> ${kept} tokens/head | ${compactMs.toFixed(2)} | ${((kvBytes(kept) * 2) / compactMs / 1e6).toFixed(2)} |`);
  const compressed = await time('attention 8x', 10, () => cache.attend(0, query));
  console.log(`| paged decode attention, ${kvFormat} K/V (split + reduce) | ${kept} tokens/head, 8x compressed | ${compressed.toFixed(2)} | ${(kvBytes(kept) / compressed / 1e6).toFixed(2)} |`);
  attention[kvFormat] = { full, compressed };
  if (kvFormat === 'f32') {
    const row = random(kvHeads * headDim);
    let position = fullTokens;
    const append = await time('append', 50, async () => {
      cache.append(0, row, row, Int32Array.of(position++));
    });
    console.log(`| scatter append | 1 token x ${kvHeads} heads | ${append.toFixed(3)} | - |`);
  }
  cache.destroy();
}

const d = new Dispatcher(gpu);
const windowTokens = 1024;
const keys = random(windowTokens * kvHeads * headDim);
const queries = random(windowTokens * queryHeads * headDim);
const scores = await time('scores', 1, () => windowScores(d, keys, queries, { queryHeads, kvHeads, headDim, window: 32, kernelSize: 7, pooling: 'max', groupReduce: 'mean' }));
console.log(`| SnapKV window scores + pooling | ${windowTokens} tokens, window 32 | ${scores.toFixed(2)} | - |`);

const prefix = fullTokens - 32;
const flat = random(kvHeads * prefix);
const counts = await time('counts', 5, () => adaptiveCounts(d, flat, kvHeads, kvHeads * 480));
console.log(`| Ada-KV counts (radix select) | ${kvHeads} x ${prefix} scores | ${counts.toFixed(2)} | ${((flat.byteLength * 5) / counts / 1e6).toFixed(2)} |`);
const rows = Array.from({ length: kvHeads }, (_, h) => flat.subarray(h * prefix, (h + 1) * prefix));
const select = await time('select', 5, () => selectTopK(d, rows, new Array(kvHeads).fill(480)));
console.log(`| per-head top-k selection (radix select + ordered scan) | ${kvHeads} x ${prefix} scores, 480 kept | ${select.toFixed(2)} | ${((flat.byteLength * 5) / select / 1e6).toFixed(2)} |`);

// model kernels on buffers that stay on the GPU (weights uploaded once)
const device = gpu.device;
const onGpu = (data) => {
  const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
};
const finish = () => d.read(d.temp(4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC), 4); // submits and waits
const dim = Number(process.env.BENCH_DIM ?? 1024); // small: SwiftShader is a CPU
const weight = onGpu(random(dim * dim, 0.02));
for (const tokens of [1, 32]) {
  const input = onGpu(random(tokens * dim));
  const output = onGpu(new Float32Array(tokens * dim));
  const ms = await time('matmul', 3, () => {
    encodeMatmul(d, input, weight, output, { rows: tokens, inDim: dim, outDim: dim });
    return finish();
  });
  const flops = 2 * tokens * dim * dim;
  console.log(`| ${tokens === 1 ? 'matrix-vector' : 'matrix-matrix'} product (64x64 tiles, 4x4 per thread) | ${tokens} x ${dim} by ${dim} x ${dim} | ${ms.toFixed(2)} | ${((dim * dim * 4) / ms / 1e6).toFixed(2)} (${(flops / ms / 1e6).toFixed(2)} GFLOP/s) |`);
  input.destroy();
  output.destroy();
}
weight.destroy();
const logits = onGpu(random(queryHeads * fullTokens, 8));
const softmax = await time('softmax', 5, () => {
  encodeSoftmax(d, logits, queryHeads, fullTokens);
  return finish();
});
console.log(`| row softmax | ${queryHeads} x ${fullTokens} | ${softmax.toFixed(2)} | ${((queryHeads * fullTokens * 4 * 3) / softmax / 1e6).toFixed(2)} |`);
const vocabulary = 128256; // Llama-3
const vocabLogits = onGpu(random(vocabulary, 10));
const best = onGpu(new Uint32Array(4));
const argmax = await time('argmax', 5, () => {
  encodeArgmax(d, vocabLogits, best, vocabulary);
  return finish();
});
console.log(`| argmax | ${vocabulary} logits | ${argmax.toFixed(2)} | ${((vocabulary * 4) / argmax / 1e6).toFixed(2)} |`);
for (const buffer of [logits, vocabLogits, best]) buffer.destroy();

const ratio = ({ full, compressed }) => `${(full / compressed).toFixed(1)}x faster (${full.toFixed(2)} -> ${compressed.toFixed(2)} ms)`;
console.log(`\ndecode attention, 8x compressed vs full: f32 K/V ${ratio(attention.f32)}; f16 K/V ${ratio(attention.f16)}`);
console.log(`f16 vs f32 K/V storage: ${(attention.f32.full / attention.f16.full).toFixed(2)}x (full), ${(attention.f32.compressed / attention.f16.compressed).toFixed(2)}x (8x compressed)`);
gpu.device.destroy();
