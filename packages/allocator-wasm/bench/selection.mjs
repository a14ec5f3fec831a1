// Ada-KV adaptive selection at Llama-3-8B shapes: 32 layers x 8 KV heads x a 32k-token prompt, budget
// 2048 per head with a 32-token window (B' = 2016), alpha 0.2; nanoseconds per scored entry, including
// the copy of each layer's scores into WASM memory (best of 5 runs of the whole model).
import { Allocator, selectAdaptive } from '../dist/index.js';
import { randomFloats } from './timing.mjs';

const LAYERS = 32;
const KV_HEADS = 8;
const PROMPT = 32768;
const WINDOW = 32;
const BUDGET = 2048;

export async function benchSelection() {
  const allocator = await Allocator.load();
  const prefix = PROMPT - WINDOW;
  // Heads differ in how peaked their attention is, as in real models.
  const layers = Array.from({ length: LAYERS }, (_, layer) => {
    const noise = randomFloats(100 + layer, KV_HEADS * prefix);
    return noise.map((x, i) => Math.exp(x * (1 + (Math.floor(i / prefix) % 4))));
  });
  let total = 0;
  const run = () => {
    total = 0;
    for (const scores of layers) total += selectAdaptive(allocator, scores, KV_HEADS, BUDGET - WINDOW, 0.2).total;
  };
  run();
  let ms = Infinity;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    run();
    ms = Math.min(ms, performance.now() - start);
  }
  const entries = LAYERS * KV_HEADS * prefix;
  return { layers: LAYERS, kvHeads: KV_HEADS, prompt: PROMPT, entries, ms, nsPerEntry: (ms * 1e6) / entries, kept: total };
}
