// Append cost per token as one head's cache grows: the paged pool (a new block only at a block
// boundary) against a flat buffer reallocated and copied on every token, the strategy of the
// reference CUDA kernels, re-implemented here in typed arrays.
import { BlockPool } from '../dist/index.js';
import { medianMs, randomFloats } from './timing.mjs';

const HEAD_DIM = 128;
const SIZES = [1024, 2048, 4096, 8192, 16384, 32768, 65536];
const MEASURED_TOKENS = 256;

function pagedNsPerToken(pool, size) {
  const sequence = pool.addSequence(1, 1);
  const chunk = 1024;
  const rows = randomFloats(1, chunk * HEAD_DIM);
  for (let filled = 0; filled < size; filled += chunk) {
    pool.append(sequence, 0, rows, rows, Int32Array.from({ length: chunk }, (_, t) => filled + t));
  }
  const row = rows.subarray(0, HEAD_DIM);
  const position = new Int32Array(1);
  let next = size;
  const ms = medianMs(() => {
    for (let t = 0; t < MEASURED_TOKENS; t++) {
      position[0] = next++;
      pool.append(sequence, 0, row, row, position);
    }
  });
  pool.removeSequence(sequence);
  return (ms * 1e6) / MEASURED_TOKENS;
}

function flatNsPerToken(size) {
  let keys = randomFloats(2, size * HEAD_DIM);
  let values = keys.slice();
  const row = keys.subarray(0, HEAD_DIM);
  const tokens = size >= 16384 ? 4 : 16;
  const ms = medianMs(() => {
    for (let t = 0; t < tokens; t++) {
      const grownKeys = new Float32Array(keys.length + HEAD_DIM);
      grownKeys.set(keys);
      grownKeys.set(row, keys.length);
      const grownValues = new Float32Array(values.length + HEAD_DIM);
      grownValues.set(values);
      grownValues.set(row, values.length);
      keys = grownKeys;
      values = grownValues;
    }
  }, 3);
  return (ms * 1e6) / tokens;
}

export async function benchAppend() {
  const pool = await BlockPool.create({ headDim: HEAD_DIM });
  pagedNsPerToken(pool, SIZES[0]); // warm the JIT before the first row is measured
  return SIZES.map((size) => {
    const paged = pagedNsPerToken(pool, size);
    const flat = flatNsPerToken(size);
    return { tokens: size, pagedNs: paged, flatNs: flat, ratio: flat / paged };
  });
}
