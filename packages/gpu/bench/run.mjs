// `npm run bench -w @adakv/gpu`: each kernel's time and effective bandwidth (bytes it must read or
// write over the time; FLOP rate for the matrix products), and one decode step's attention over an
// 8x-compressed cache vs the full cache at Llama-3-8B shapes (32 layers, 32 query heads over 8 KV
// heads, head dim 128), f32, f16, int8 and int4 K/V (BENCH_FORMATS picks some), with the fraction of the device's copy bandwidth it reaches
// (and of the rated bandwidth given as BENCH_PEAK_GBPS); and a decode step of 8 sequences batched into
// one submission vs 8 single decodes (stories15M's shape, random weights). Ratios come from one run on
// one device; on a machine without a GPU this is Dawn over SwiftShader (a CPU, one layer), where only
// ratios mean much.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dispatcher, GpuKvPool, GpuLlamaDecoder, GpuPagedCache, adaptiveCounts, encodeArgmax, encodeCausalAttention, encodeMatmul, encodeMatvec, encodeSoftmax, isSoftwareAdapter, requestGpu, selectTopK, windowScores } from '../dist/index.js';

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
const formats = (process.env.BENCH_FORMATS ?? 'f32,f16,int8,int4').split(',');
const random = (n, scale = 1) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);

async function time(label, repeats, body) {
  await body(); // warm-up: pipelines compiled, buffers grown
  const start = performance.now();
  for (let i = 0; i < repeats; i++) await body();
  return (performance.now() - start) / repeats;
}

// SwiftShader is a CPU: one layer and few repeats keep the run to minutes there
const software = isSoftwareAdapter(gpu);
const layers = Number(process.env.BENCH_LAYERS ?? (software ? 1 : 32));
const repeats = software ? 3 : 20;
const device = gpu.device;
const onGpu = (data) => {
  const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
};
/** Submits what `dispatcher` encoded and waits for the GPU to finish it. */
const finish = (dispatcher) => dispatcher.read(dispatcher.temp(4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC), 4);

/**
 * GPU time per repetition of `encode`: `repeats` repetitions are encoded first, then only their
 * submission and completion are timed, so the CPU's encoding does not count against the kernels.
 */
async function timeOnGpu(dispatcher, repeats, encode) {
  encode();
  await finish(dispatcher); // warm-up: pipelines compiled, buffers grown
  for (let i = 0; i < repeats; i++) encode();
  const start = performance.now();
  await finish(dispatcher);
  return (performance.now() - start) / repeats;
}

console.log(`device: ${gpu.adapterInfo}; shader-f16: ${gpu.f16}\n`);

// the stand-in for the memory bandwidth limit: buffer-to-buffer copies (each byte read once, written once)
const copyBytes = Math.min((software ? 64 : 256) * 2 ** 20, device.limits.maxBufferSize);
const copyCopies = software ? 2 : 10;
const [copyFrom, copyTo] = [0, 1].map(() => device.createBuffer({ size: copyBytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE }));
const copier = new Dispatcher(gpu);
const copyMs = await timeOnGpu(copier, 3, () => {
  for (let i = 0; i < copyCopies; i++) copier.copy(i % 2 ? copyTo : copyFrom, 0, i % 2 ? copyFrom : copyTo, 0, copyBytes);
});
const copyGBps = (2 * copyBytes * copyCopies) / copyMs / 1e6;
copyFrom.destroy();
copyTo.destroy();

console.log('| kernel | shape | ms per call | effective GB/s |');
console.log('| --- | --- | ---: | ---: |');
console.log(`| buffer copy (reference: the device's reachable memory bandwidth) | ${copyCopies} x ${copyBytes / 2 ** 20} MiB | ${copyMs.toFixed(2)} | ${copyGBps.toFixed(2)} |`);

const queryBuffer = onGpu(random(queryHeads * headDim));
const attentionOut = onGpu(new Float32Array(queryHeads * headDim));
const attention = {};
for (const kvFormat of formats) {
  const cache = new GpuPagedCache(gpu, { layers, queryHeads, kvHeads, headDim, kvFormat });
  // bytes a block holds per element (int8 / int4: scales and marker included)
  const bytesPer = cache.blockBytes / (2 * cache.blockSize * headDim);
  const kvBytes = (tokens) => layers * tokens * kvHeads * headDim * bytesPer * 2;
  const rows = random(fullTokens * kvHeads * headDim);
  for (let layer = 0; layer < layers; layer++) cache.append(layer, rows, rows, Int32Array.from({ length: fullTokens }, (_, t) => t));
  // one decode step's attention: every layer in one submission, as the GPU forward pass does
  const step = () => {
    for (let layer = 0; layer < layers; layer++) cache.encodeAttend(layer, queryBuffer, attentionOut);
  };
  const shape = (tokens, what) => `${layers} layer${layers > 1 ? 's' : ''} x ${tokens} tokens/head, ${what}`;
  const full = await timeOnGpu(cache.dispatcher, repeats, step);
  console.log(`| paged decode attention, ${kvFormat} K/V (split + reduce) | ${shape(fullTokens, 'full')} | ${full.toFixed(2)} | ${(kvBytes(fullTokens) / full / 1e6).toFixed(2)} |`);
  const kept = fullTokens / 8;
  const compaction = performance.now();
  for (let layer = 0; layer < layers; layer++) cache.compact(layer, Array.from({ length: kvHeads }, () => Int32Array.from({ length: kept }, (_, i) => i * 8)));
  await finish(cache.dispatcher); // waits for the gathers to finish
  const compactMs = (performance.now() - compaction) / layers;
  console.log(`| ${cache.pool.quantized ? 're-encoding' : 'gather'} compaction, ${kvFormat} K/V, per layer | ${fullTokens} -> ${kept} tokens/head | ${compactMs.toFixed(2)} | ${((kvBytes(kept) * 2) / layers / compactMs / 1e6).toFixed(2)} |`);
  const compressed = await timeOnGpu(cache.dispatcher, repeats, step);
  console.log(`| paged decode attention, ${kvFormat} K/V (split + reduce) | ${shape(kept, '8x compressed')} | ${compressed.toFixed(2)} | ${(kvBytes(kept) / compressed / 1e6).toFixed(2)} |`);
  attention[kvFormat] = { full, compressed, fullGBps: kvBytes(fullTokens) / full / 1e6 };
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

const prompt = software ? 128 : 2048;
const [promptQ, promptK, promptV] = [queryHeads, kvHeads, kvHeads].map((heads) => onGpu(random(prompt * heads * headDim)));
const promptOut = onGpu(new Float32Array(prompt * queryHeads * headDim));
const prefill = await timeOnGpu(d, software ? 1 : repeats, () => {
  encodeCausalAttention(d, promptQ, promptK, promptV, promptOut, { tokens: prompt, queryHeads, kvHeads, headDim });
});
const prefillFlops = 2 * 2 * ((prompt * (prompt + 1)) / 2) * queryHeads * headDim; // QK^T and PV over the causal half
console.log(`| causal prefill attention (8 queries x 64-key tiles, online softmax) | ${prompt} tokens, 1 layer | ${prefill.toFixed(2)} | - (${(prefillFlops / prefill / 1e6).toFixed(2)} GFLOP/s) |`);
for (const buffer of [promptQ, promptK, promptV, promptOut]) buffer.destroy();

const prefix = fullTokens - 32;
const flat = random(kvHeads * prefix);
const counts = await time('counts', 5, () => adaptiveCounts(d, flat, kvHeads, kvHeads * 480));
console.log(`| Ada-KV counts (radix select) | ${kvHeads} x ${prefix} scores | ${counts.toFixed(2)} | ${((flat.byteLength * 5) / counts / 1e6).toFixed(2)} |`);
const rows = Array.from({ length: kvHeads }, (_, h) => flat.subarray(h * prefix, (h + 1) * prefix));
const select = await time('select', 5, () => selectTopK(d, rows, new Array(kvHeads).fill(480)));
console.log(`| per-head top-k selection (radix select + ordered scan) | ${kvHeads} x ${prefix} scores, 480 kept | ${select.toFixed(2)} | ${((flat.byteLength * 5) / select / 1e6).toFixed(2)} |`);

// model kernels on buffers that stay on the GPU (weights uploaded once)
const dim = Number(process.env.BENCH_DIM ?? 1024); // small: SwiftShader is a CPU
const weight = onGpu(random(dim * dim, 0.02));
for (const tokens of [1, 32]) {
  const input = onGpu(random(tokens * dim));
  const output = onGpu(new Float32Array(tokens * dim));
  const ms = await timeOnGpu(d, repeats, () => {
    // one token (decode) takes the matrix-vector kernel, several (prefill) the tiled product
    if (tokens === 1) encodeMatvec(d, weight, input, output, { inDim: dim, outDim: dim });
    else encodeMatmul(d, input, weight, output, { rows: tokens, inDim: dim, outDim: dim });
  });
  const flops = 2 * tokens * dim * dim;
  const kernel = tokens === 1 ? 'matrix-vector product (rows share a workgroup, threads per row by length)' : 'matrix-matrix product (64x64 tiles, 4x4 per thread)';
  console.log(`| ${kernel} | ${tokens} x ${dim} by ${dim} x ${dim} | ${ms.toFixed(2)} | ${((dim * dim * 4) / ms / 1e6).toFixed(2)} (${(flops / ms / 1e6).toFixed(2)} GFLOP/s) |`);
  input.destroy();
  output.destroy();
}
weight.destroy();
const logits = onGpu(random(queryHeads * fullTokens, 8));
const softmax = await timeOnGpu(d, repeats, () => {
  encodeSoftmax(d, logits, queryHeads, fullTokens);
});
console.log(`| row softmax | ${queryHeads} x ${fullTokens} | ${softmax.toFixed(2)} | ${((queryHeads * fullTokens * 4 * 3) / softmax / 1e6).toFixed(2)} |`);
const vocabulary = 128256; // Llama-3
const vocabLogits = onGpu(random(vocabulary, 10));
const best = onGpu(new Uint32Array(4));
const argmax = await timeOnGpu(d, repeats, () => {
  encodeArgmax(d, vocabLogits, best, vocabulary);
});
console.log(`| argmax | ${vocabulary} logits | ${argmax.toFixed(2)} | ${((vocabulary * 4) / argmax / 1e6).toFixed(2)} |`);
for (const buffer of [logits, vocabLogits, best]) buffer.destroy();

// one decode step for 8 sequences of one pool: batched (one submission, weights read once per step)
// vs one decode per sequence (8 submissions), stories15M's shape with random weights, prompts of
// different lengths; the two alternate step by step so the machine's load falls on both alike
const model = { dim: 288, hiddenDim: 768, layers: 6, queryHeads: 6, kvHeads: 6, headDim: 48, vocabSize: 32000, contextLength: 256, normEps: 1e-5 };
const half = model.headDim / 2;
const angle = (i) => Math.floor(i / half) * 10000 ** (-(2 * (i % half)) / model.headDim);
const matrix = (rows, columns) => random(rows * columns, 0.05);
const weights = {
  tokenEmbedding: matrix(model.vocabSize, model.dim),
  layers: Array.from({ length: model.layers }, () => ({
    attentionNorm: new Float32Array(model.dim).fill(1),
    ffnNorm: new Float32Array(model.dim).fill(1),
    wq: matrix(model.dim, model.dim), wk: matrix(model.dim, model.dim), wv: matrix(model.dim, model.dim), wo: matrix(model.dim, model.dim),
    w1: matrix(model.hiddenDim, model.dim), w2: matrix(model.dim, model.hiddenDim), w3: matrix(model.hiddenDim, model.dim),
  })),
  finalNorm: new Float32Array(model.dim).fill(1),
  classifier: matrix(model.vocabSize, model.dim),
  ropeCos: Float32Array.from({ length: model.contextLength * half }, (_, i) => Math.cos(angle(i))),
  ropeSin: Float32Array.from({ length: model.contextLength * half }, (_, i) => Math.sin(angle(i))),
};
const decoder = new GpuLlamaDecoder(gpu, model, weights);
const kvPool = new GpuKvPool(gpu, { layers: model.layers, queryHeads: model.queryHeads, kvHeads: model.kvHeads, headDim: model.headDim });
const batchSize = 8;
const prompts = Array.from({ length: batchSize }, (_, i) => Array.from({ length: 8 + 8 * i }, (_, t) => (t * 31 + i) % model.vocabSize));
const [batchedSequences, singleSequences] = [0, 1].map(() => prompts.map(() => GpuPagedCache.inPool(kvPool)));
for (const [i, prompt] of prompts.entries()) {
  await decoder.prefill(prompt, batchedSequences[i]);
  await decoder.prefill(prompt, singleSequences[i]);
}
const stepTokens = prompts.map((_, i) => (7 * i + 3) % model.vocabSize);
let stepPositions = prompts.map((prompt) => prompt.length);
const decodeSteps = software ? 3 : 20;
let [batchedMs, singleMs] = [0, 0];
for (let step = -1; step < decodeSteps; step++) { // step -1: warm-up
  const batchStart = performance.now();
  await decoder.decodeBatch(stepTokens, stepPositions, batchedSequences);
  const singleStart = performance.now();
  for (let i = 0; i < batchSize; i++) await decoder.decode(stepTokens[i], stepPositions[i], singleSequences[i]);
  const end = performance.now();
  if (step >= 0) [batchedMs, singleMs] = [batchedMs + singleStart - batchStart, singleMs + end - singleStart];
  stepPositions = stepPositions.map((position) => position + 1);
}
[batchedMs, singleMs] = [batchedMs / decodeSteps, singleMs / decodeSteps];
console.log(`| decode step of ${batchSize} sequences: one batched submission vs ${batchSize} single decodes | stories15M shape, random weights, prompts 8..${8 * batchSize} | ${batchedMs.toFixed(1)} vs ${singleMs.toFixed(1)} | - (${(singleMs / batchedMs).toFixed(2)}x) |`);
kvPool.destroy();
decoder.destroy();

const ratio = ({ full, compressed }) => `${(full / compressed).toFixed(1)}x faster (${full.toFixed(2)} -> ${compressed.toFixed(2)} ms)`;
console.log(`\ndecode attention, 8x compressed vs full: ${Object.entries(attention).map(([kvFormat, a]) => `${kvFormat} K/V ${ratio(a)}`).join('; ')}`);
const fraction = (gbps, of) => `${((100 * gbps) / of).toFixed(1)}%`;
const rated = Number(process.env.BENCH_PEAK_GBPS ?? NaN); // the GPU's rated memory bandwidth, if given
for (const [kvFormat, { fullGBps }] of Object.entries(attention)) {
  console.log(`decode attention over the full cache, ${kvFormat} K/V: ${fullGBps.toFixed(2)} GB/s = ${fraction(fullGBps, copyGBps)} of the copy bandwidth (${copyGBps.toFixed(2)} GB/s)` +
    (Number.isFinite(rated) ? `, ${fraction(fullGBps, rated)} of the rated ${rated} GB/s` : ''));
}
for (const kvFormat of Object.keys(attention).filter((f) => f !== 'f32' && attention.f32)) {
  console.log(`${kvFormat} vs f32 K/V storage: ${(attention.f32.full / attention[kvFormat].full).toFixed(2)}x (full), ${(attention.f32.compressed / attention[kvFormat].compressed).toFixed(2)}x (8x compressed)`);
}
console.log(`decode step of ${batchSize} sequences: batched ${(singleMs / batchedMs).toFixed(2)}x faster than ${batchSize} single decodes (${singleMs.toFixed(1)} -> ${batchedMs.toFixed(1)} ms per step)`);
gpu.device.destroy();
