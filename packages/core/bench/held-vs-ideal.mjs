// `npm run bench -w @adakv/core`: K/V bytes a wasm store holds against the ideal (the kept entries at
// the format's bytes per entry, scales included) after Ada-SnapKV at 64 entries per KV head, per
// format, with the method's exact per-head counts and with the counts rounded to whole blocks
// (`planCompression({ blockSize })`, what `planForBytes` plans with). Real model and text: stories15M,
// 8 prompts of 192 tokens from the eval corpus, blocks of 16 rows; each layer built with storeKeptRows
// (blocks encoded once over their kept rows) and measured with store.bytes().
import { WasmBackend, bytesPerBlock, cacheGeometry, planCompression, readHeadKv, storeKeptRows } from '@adakv/core';
import { loadDefaultModel, tokenSegments } from '@adakv/core/node';
import { DEFAULT_CORPUS, gutenbergText } from '../scripts/gutenberg.mjs';

const PROMPTS = 8;
const PROMPT = 192;
const BUDGET = 64;
const BLOCK = 16;
const FORMATS = ['f32', 'f16', 'int8', 'int4'];

const model = await loadDefaultModel();
const backend = await WasmBackend.create({ blockSize: BLOCK });
const geometry = cacheGeometry(model.config);
const forward = backend.forwardPass(model);
const prompts = tokenSegments(model.tokenizer, gutenbergText(DEFAULT_CORPUS[0]), { count: PROMPTS, length: PROMPT });
const totals = new Map();

for (const tokens of prompts) {
  const full = backend.createStore(geometry);
  const { observations } = await forward.prefill(tokens, full);
  const rows = [];
  for (let layer = 0; layer < geometry.layers; layer++) rows.push(await readHeadKv(full, layer));
  full.dispose();
  for (const [counts, blockSize] of [['exact', 1], ['whole blocks', BLOCK]]) {
    const plan = planCompression({ method: 'ada-snapkv', geometry, observations, budget: BUDGET, blockSize });
    for (const kvFormat of FORMATS) {
      const store = backend.createStore(geometry, { kvFormat });
      plan.layers.forEach((layerPlan, layer) => storeKeptRows(store, layer, rows[layer], layerPlan.kept, BLOCK));
      const ideal = plan.achievedTotal * (bytesPerBlock(kvFormat, geometry.headDim, BLOCK) / BLOCK);
      const key = `${counts}\u0000${kvFormat}`;
      const sum = totals.get(key) ?? { held: 0, ideal: 0, kept: 0 };
      totals.set(key, { held: sum.held + store.bytes(), ideal: sum.ideal + ideal, kept: sum.kept + plan.achievedTotal });
      store.dispose();
    }
  }
}
backend.dispose();

const perHead = (kept) => kept / (PROMPTS * geometry.layers * geometry.kvHeads);
console.log(`## K/V bytes held vs ideal: ada-snapkv at ${BUDGET} entries per KV head, stories15M, ${PROMPTS} prompts of ${PROMPT} tokens, blocks of ${BLOCK}\n`);
console.log('| per-head counts | format | entries per head | held KiB | ideal KiB | held / ideal |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const [key, { held, ideal, kept }] of totals) {
  const [counts, kvFormat] = key.split('\u0000');
  console.log(`| ${counts} | ${kvFormat} | ${perHead(kept).toFixed(1)} | ${(held / PROMPTS / 1024).toFixed(1)} | ${(ideal / PROMPTS / 1024).toFixed(1)} | ${(held / ideal).toFixed(3)} |`);
}
