// Decode attention over the paged cache at one Llama-3-8B layer (32 query heads, 8 KV heads, head dim
// 128): effective GB/s of K/V read against a plain WASM SIMD read loop over the same memory in the same
// run (best of several interleaved runs each, which this shared machine's noise needs), on one thread
// and on two (the engine's threads variant splits KV heads), plain and relaxed SIMD (fused
// multiply-add), and the speedup of an 8x compressed cache.
import { Engine, relaxedSimdSupported } from '../dist/index.js';
import { readLoop } from './read-loop.mjs';
import { randomFloats } from './timing.mjs';

const QUERY_HEADS = 32;
const KV_HEADS = 8;
const HEAD_DIM = 128;
const TOKENS = 16384;
const ROUNDS = 7;

async function measure(threads, relaxedSimd) {
  const engine = await Engine.load({ threads, relaxedSimd });
  const pool = engine.createPool({ headDim: HEAD_DIM });
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
  // The read loop covers one contiguous range of the same size inside the pool's chunks.
  const { blockAddresses } = pool.flatten(sequence, 0);
  const start = Math.min(...blockAddresses);
  const read = readLoop(engine.allocator.exports.memory);
  let fullMs = Infinity;
  let readMs = Infinity;
  attend();
  read(start, kvBytes);
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    attend();
    fullMs = Math.min(fullMs, performance.now() - t);
    t = performance.now();
    read(start, kvBytes);
    readMs = Math.min(readMs, performance.now() - t);
  }
  const keep = Math.floor(TOKENS / 8);
  const kept = Array.from({ length: KV_HEADS }, (_, h) => Int32Array.from({ length: keep }, (_, i) => i * 8 + (h % 8)));
  pool.compact(sequence, 0, kept);
  let compressedMs = Infinity;
  attend();
  for (let round = 0; round < 2 * ROUNDS; round++) {
    const t = performance.now();
    attend();
    compressedMs = Math.min(compressedMs, performance.now() - t);
  }
  const variant = engine.variant;
  pool.dispose();
  engine.dispose();
  return {
    threads,
    variant,
    fullMs,
    attendGBs: kvBytes / fullMs / 1e6,
    readGBs: kvBytes / readMs / 1e6,
    compressedMs,
    speedup: fullMs / compressedMs,
  };
}

export async function benchAttention() {
  const runs = [];
  for (const relaxed of relaxedSimdSupported() ? [false, true] : [false]) {
    for (const threads of [1, 2]) runs.push(await measure(threads, relaxed));
  }
  return { tokens: TOKENS, kvBytes: TOKENS * KV_HEADS * HEAD_DIM * 8, runs };
}
