// The K/V storage formats side by side, in one run (`node --experimental-wasm-relaxed-simd
// bench/kv-formats.mjs`, or within `npm run bench`):
//   memory: bytes held vs ideal after Ada-KV compression to 64 entries per head (bench/memory.mjs),
//           per format and block size;
//   speed:  decode attention over one Llama-3-8B layer (32 query heads over 8 KV heads, head dim 128,
//           8192 tokens per head), one thread, per format and block size, as ratios to f32 with
//           16-row blocks; every pool lives in the same engine and the rounds interleave them.
import { Engine, relaxedSimdSupported } from '../dist/index.js';
import { benchMemory } from './memory.mjs';
import { format, randomFloats } from './timing.mjs';

const FORMATS = ['f32', 'f16', 'int8', 'int4'];
const BLOCK_SIZES = [16, 8, 4];
const QUERY_HEADS = 32;
const KV_HEADS = 8;
const HEAD_DIM = 128;
const TOKENS = 8192;
const ROUNDS = 9;

export async function benchKvFormatMemory(budget = 64) {
  const rows = [];
  for (const blockSize of BLOCK_SIZES) {
    for (const kvFormat of FORMATS) rows.push(...(await benchMemory({ format: kvFormat, blockSize, budgets: [budget] })));
  }
  return rows;
}

export async function benchKvFormatSpeed({ relaxedSimd = relaxedSimdSupported() } = {}) {
  const engine = await Engine.load({ threads: 1, relaxedSimd });
  const chunk = 512;
  const keys = randomFloats(3, chunk * KV_HEADS * HEAD_DIM);
  const values = randomFloats(4, chunk * KV_HEADS * HEAD_DIM);
  const queries = randomFloats(5, QUERY_HEADS * HEAD_DIM);
  const configs = [];
  for (const blockSize of BLOCK_SIZES) {
    for (const kvFormat of FORMATS) {
      const pool = engine.createPool({ headDim: HEAD_DIM, blockSize, format: kvFormat });
      const sequence = pool.addSequence(1, KV_HEADS);
      for (let filled = 0; filled < TOKENS; filled += chunk) {
        pool.append(sequence, 0, keys, values, Int32Array.from({ length: chunk }, (_, t) => filled + t));
      }
      configs.push({ format: kvFormat, blockSize, pool, sequence, out: new Float32Array(queries.length), ms: Infinity });
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of configs) {
      const start = performance.now();
      c.pool.attend(c.sequence, 0, queries, c.out);
      c.ms = Math.min(c.ms, performance.now() - start);
    }
  }
  const base = configs.find((c) => c.format === 'f32' && c.blockSize === 16).ms;
  const results = configs.map((c) => ({
    format: c.format,
    blockSize: c.blockSize,
    ms: c.ms,
    vsF32: c.ms / base,
    heldMiB: c.pool.stats().heldBytes / 2 ** 20,
  }));
  const variant = engine.variant;
  for (const c of configs) c.pool.dispose();
  engine.dispose();
  return { variant, tokens: TOKENS, results };
}

export function printKvFormats(memory, speed) {
  console.log(`\n## K/V formats: memory after Ada-KV compression to ${memory[0].budget} entries per head (4096-token prompt, 32 layers x 8 KV heads, d 128)\n`);
  console.log('| format | block rows | bytes / element | held MiB | ideal MiB | held / ideal | held vs f32, 16 rows |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const f32Held = memory.find((r) => r.format === 'f32' && r.blockSize === 16).heldBytes;
  for (const r of memory) {
    console.log(
      `| ${r.format} | ${r.blockSize} | ${format(r.bytesPerElement, 3)} | ${format(r.heldBytes / 2 ** 20, 2)} | ${format(r.idealBytes / 2 ** 20, 2)} | ` +
        `${format(r.heldOverIdeal, 3)} | ${format(r.heldBytes / f32Held, 3)} |`,
    );
  }
  console.log(`\n## K/V formats: decode attention, one layer (32 query / 8 KV heads, d 128, ${speed.tokens} tokens per head), 1 thread, ${speed.variant}\n`);
  console.log('| format | block rows | ms | time vs f32, 16 rows | K/V MiB held |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of speed.results) {
    console.log(`| ${r.format} | ${r.blockSize} | ${format(r.ms, 2)} | ${format(r.vsF32, 2)}x | ${format(r.heldMiB, 1)} |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const speed = await benchKvFormatSpeed();
  const memory = await benchKvFormatMemory();
  printKvFormats(memory, speed);
}
