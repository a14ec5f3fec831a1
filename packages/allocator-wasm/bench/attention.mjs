// Decode attention over the paged cache at one Llama-3-8B layer (32 query heads, 8 KV heads, head dim
// 128): effective GB/s of K/V read against a plain WASM SIMD read loop over the same memory, and the
// speedup of an 8x compressed cache over the full one.
import { BlockPool } from '../dist/index.js';
import { readLoop } from './read-loop.mjs';
import { medianMs, randomFloats } from './timing.mjs';

const QUERY_HEADS = 32;
const KV_HEADS = 8;
const HEAD_DIM = 128;
const TOKENS = 16384;

export async function benchAttention() {
  const pool = await BlockPool.create({ headDim: HEAD_DIM });
  const sequence = pool.addSequence(1, KV_HEADS);
  const chunk = 512;
  const rows = randomFloats(3, chunk * KV_HEADS * HEAD_DIM);
  for (let filled = 0; filled < TOKENS; filled += chunk) {
    pool.append(sequence, 0, rows, rows, Int32Array.from({ length: chunk }, (_, t) => filled + t));
  }
  const queries = randomFloats(4, QUERY_HEADS * HEAD_DIM);
  const out = new Float32Array(queries.length);
  const attend = () => pool.attend(sequence, 0, queries, out);
  const kvBytes = TOKENS * KV_HEADS * HEAD_DIM * 2 * 4;
  const fullMs = medianMs(attend, 7);

  // The read loop covers one contiguous range of the same size inside the pool's chunks.
  const { blockAddresses } = pool.flatten(sequence, 0);
  const start = Math.min(...blockAddresses);
  const read = readLoop(pool.allocator.exports.memory);
  const readMs = medianMs(() => read(start, kvBytes), 7);

  const keep = Math.floor(TOKENS / 8);
  const kept = Array.from({ length: KV_HEADS }, (_, h) => Int32Array.from({ length: keep }, (_, i) => i * 8 + (h % 8)));
  pool.compact(sequence, 0, kept);
  const compressedMs = medianMs(attend, 15);
  pool.dispose();
  return {
    tokens: TOKENS,
    kvBytes,
    fullMs,
    attendGBs: kvBytes / fullMs / 1e6,
    readGBs: kvBytes / readMs / 1e6,
    compressedMs,
    speedup: fullMs / compressedMs,
  };
}
