// Memory held by the paged pool against the ideal (the kept rows alone) after Ada-KV compression of a
// 4096-token prompt at Llama-3-8B shapes (32 layers, 8 KV heads, head dim 128), window 32, alpha 0.2:
// internal waste (empty rows in partial blocks) and metadata as % of the ideal. The ideal is the kept
// rows at the format's bytes per row (a full block's bytes, scales included, over its rows), so
// held / ideal is what the block layout costs on top of the format.
import { BlockPool, kvBlockBytes, selectAdaptive } from '../dist/index.js';
import { randomFloats } from './timing.mjs';

const LAYERS = 32;
const KV_HEADS = 8;
const HEAD_DIM = 128;
const PROMPT = 4096;
const WINDOW = 32;
const BUDGETS = [64, 128, 256, 512, 1024, 2048];

export async function benchMemory({ format = 'f32', blockSize = 16, budgets = BUDGETS } = {}) {
  const prefix = PROMPT - WINDOW;
  const rows = randomFloats(5, PROMPT * KV_HEADS * HEAD_DIM);
  const positions = Int32Array.from({ length: PROMPT }, (_, t) => t);
  const scores = Array.from({ length: LAYERS }, (_, layer) =>
    randomFloats(200 + layer, KV_HEADS * prefix).map((x, i) => Math.exp(x * (1 + (Math.floor(i / prefix) % 4)))),
  );
  const rowBytes = kvBlockBytes(format, blockSize, HEAD_DIM) / blockSize;
  const results = [];
  for (const budget of budgets) {
    const pool = await BlockPool.create({ headDim: HEAD_DIM, blockSize, format });
    const sequence = pool.addSequence(LAYERS, KV_HEADS);
    let keptRows = 0;
    for (let layer = 0; layer < LAYERS; layer++) {
      pool.append(sequence, layer, rows, rows, positions);
      const { kept } = selectAdaptive(pool.allocator, scores[layer], KV_HEADS, budget - WINDOW, 0.2);
      const withWindow = kept.map((list) => {
        const all = new Int32Array(list.length + WINDOW);
        all.set(list);
        for (let w = 0; w < WINDOW; w++) all[list.length + w] = prefix + w;
        keptRows += all.length;
        return all;
      });
      pool.compact(sequence, layer, withWindow);
    }
    const stats = pool.stats();
    const ideal = keptRows * rowBytes;
    results.push({
      format,
      blockSize,
      budget,
      keptRows,
      idealBytes: ideal,
      heldBytes: stats.heldBytes,
      residualBytes: stats.residualBytes,
      heldOverIdeal: stats.heldBytes / ideal,
      bytesPerElement: rowBytes / (2 * HEAD_DIM),
      wastePercent: ((stats.heldBytes - ideal) / ideal) * 100,
      metadataPercent: (stats.metadataBytes / ideal) * 100,
    });
    pool.dispose();
  }
  return results;
}
