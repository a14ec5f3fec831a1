// The matmul kernel of every weight type at a Llama-3-8B projection's shape (4096 x 4096), one token
// (decode: weight bandwidth) and 16 tokens (batched decode / prefill: weights read once for all 16),
// single thread; best of several runs.
import { Allocator, TENSOR_TYPE_IDS, TENSOR_TYPES, defaultRelaxedWasmUrl, quantizeTensor, relaxedSimdSupported } from '../dist/index.js';
import { randomFloats } from './timing.mjs';

const ROWS = 4096;
const COLS = 4096;

export async function benchKernels() {
  const values = randomFloats(9, ROWS * COLS);
  const rows = [];
  for (const relaxed of relaxedSimdSupported() ? [false, true] : [false]) {
    const allocator = await Allocator.load(relaxed ? defaultRelaxedWasmUrl() : undefined);
    for (const type of TENSOR_TYPES) {
      const bytes = quantizeTensor(type, values, ROWS, COLS);
      const result = { type, relaxed, bytes: bytes.byteLength };
      for (const tokens of [1, 16]) {
        const [w, x, out] = allocator.scratch.regions(bytes.byteLength, tokens * COLS * 4, tokens * ROWS * 4);
        allocator.u8(w, bytes.byteLength).set(bytes);
        allocator.f32(x, tokens * COLS).set(randomFloats(10, tokens * COLS));
        const run = () => allocator.exports.adakv_kernel_matmul(TENSOR_TYPE_IDS[type], w, ROWS, COLS, x, tokens, out);
        run();
        let best = Infinity;
        for (let i = 0; i < (tokens === 1 ? 9 : 5); i++) {
          const start = performance.now();
          run();
          best = Math.min(best, performance.now() - start);
        }
        result[tokens === 1 ? 'one' : 'sixteen'] = { ms: best, gmacs: (ROWS * COLS * tokens) / best / 1e6, gbs: bytes.byteLength / best / 1e6 };
      }
      rows.push(result);
    }
    allocator.scratch.release();
  }
  return { rows: ROWS, cols: COLS, results: rows };
}
