// `npm run bench -w @adakv/core`: many sequences in one fixed pool, with and without compression
// (KV-Compress's throughput table, on stories15M). One run, same workload, same pool, so the
// ratios compare like with like. Imports dist/ as a user would (the bench script builds first). The
// engine runs its relaxed-SIMD builds, as `adakv serve` does.
import { Scheduler, WasmBackend } from '@adakv/core';
import { enableRelaxedSimd, loadDefaultModel, tokenSegments } from '@adakv/core/node';
import { DEFAULT_CORPUS, gutenbergText } from '../scripts/gutenberg.mjs';

enableRelaxedSimd();

const POOL_BLOCKS = 1200; // 16-token blocks: ~3 uncompressed sequences of this workload
const REQUESTS = 16;
const PROMPT = 120;
const NEW_TOKENS = 48;

const model = await loadDefaultModel();
const backend = await WasmBackend.create();
const prompts = tokenSegments(model.tokenizer, gutenbergText(DEFAULT_CORPUS[0]), { count: REQUESTS, length: PROMPT });
const settings = [
  { label: 'none', request: { method: 'full' } },
  { label: '2x', request: { compressionRatio: 2 } },
  { label: '4x', request: { compressionRatio: 4 } },
  { label: '8x', request: { compressionRatio: 8 } },
];

console.log('tokens/s (wall) counts every prefill; decode tokens/s counts the batched decode steps only.\n');
console.log(`## ${REQUESTS} requests (${PROMPT}-token prompts, ${NEW_TOKENS} new tokens, greedy, ada-snapkv), one pool of ${POOL_BLOCKS} blocks x 16 tokens\n`);
console.log('| compression | most concurrent | preemptions | tokens/s (wall) | vs none | decode tokens/s | vs none | schedule ms/step | decode ms/step | of which eviction | schedule / decode |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
let baseline;
let decodeBaseline;
for (const { label, request } of settings) {
  let mostRunning = 0;
  const scheduler = new Scheduler(model, backend, {
    poolBlocks: POOL_BLOCKS,
    maxBatch: REQUESTS,
    evictEvery: 8,
    onStep: (m) => (mostRunning = Math.max(mostRunning, m.running)),
  });
  const started = performance.now();
  const results = await Promise.all(
    prompts.map((prompt) => scheduler.submit({ prompt, maxTokens: NEW_TOKENS, protectedWindow: 8, stopAtEndOfText: false, ...request }).result),
  );
  const seconds = (performance.now() - started) / 1000;
  const tokens = results.reduce((sum, r) => sum + r.tokens.length, 0);
  const { steps, scheduleMs, decodeMs, evictionMs, preemptions } = scheduler.totals;
  const throughput = tokens / seconds;
  const decodeThroughput = tokens / (decodeMs / 1000);
  baseline ??= throughput;
  decodeBaseline ??= decodeThroughput;
  console.log(
    `| ${label} | ${mostRunning} | ${preemptions} | ${throughput.toFixed(1)} | ${(throughput / baseline).toFixed(2)}x | ` +
      `${decodeThroughput.toFixed(1)} | ${(decodeThroughput / decodeBaseline).toFixed(2)}x | ` +
      `${(scheduleMs / steps).toFixed(2)} | ${(decodeMs / steps).toFixed(1)} | ${(evictionMs / steps).toFixed(1)} | ${((scheduleMs / decodeMs) * 100).toFixed(1)}% |`,
  );
  await scheduler.close();
  scheduler.pool.dispose();
}
backend.dispose();
