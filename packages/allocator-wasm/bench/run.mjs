// `npm run bench`: every benchmark of the package in one run, so ratios compare like with like.
// Build first (`npm run build`); the bench imports dist/ as a user would.
import { relaxedSimdSupported } from '../dist/index.js';
import { benchAppend } from './append.mjs';
import { benchAttention } from './attention.mjs';
import { benchDecodeBatch, printDecodeBatch } from './decode-batch.mjs';
import { benchEngine } from './engine.mjs';
import { benchKernels } from './kernels.mjs';
import { benchKvFormatMemory, benchKvFormatSpeed, printKvFormats } from './kv-formats.mjs';
import { benchMemory } from './memory.mjs';
import { benchSelection } from './selection.mjs';
import { format } from './timing.mjs';

const engine = await benchEngine();
console.log(`## The engine on stories15M vs llama2.c's llama2.wasm (${engine.promptTokens}-token prompt, ${engine.steps} greedy steps, best of ${engine.rounds} interleaved rounds)\n`);
console.log(`llama2.wasm: prefill ${format(engine.peer.prefill, 1)} tokens/s (one token at a time), decode ${format(engine.peer.decode, 1)} tokens/s\n`);
console.log('| weights | threads | build | prefill tok/s | vs llama2.wasm | decode tok/s | vs llama2.wasm | weight bytes / param | classifier screen MiB | tokens equal to llama2.c |');
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of engine.rows) {
  console.log(
    `| ${r.weights} | ${r.threads} | ${r.variant} | ${format(r.prefill, 0)} | ${format(r.prefill / engine.peer.prefill, 1)}x | ${format(r.decode, 0)} | ` +
      `${format(r.decode / engine.peer.decode, 2)}x | ${format(r.bytesPerParameter, 3)} | ${format(r.screenMiB, 1)} | ${r.tokensEqual} |`,
  );
}
console.log(
  engine.twinRelativeDifference === undefined
    ? '\n(f32 logits vs @adakv/core\'s TS Transformer: skipped, core is not built)'
    : `\nf32 prefill logits vs @adakv/core's TS Transformer: max |difference| / max |logit| = ${engine.twinRelativeDifference.toExponential(1)}`,
);

// Batched decode (WasmModel.decodeBatch over B sequences), f32 stories15M, 2 threads, each build.
console.log('\n## Batched decode on stories15M (f32 weights, 55-token prompt per sequence, logits returned)');
for (const relaxed of relaxedSimdSupported() ? [false, true] : [false]) printDecodeBatch(await benchDecodeBatch({ threads: 2, relaxed }), format);

const kernels = await benchKernels();
console.log(`\n## Matmul kernels, ${kernels.rows} x ${kernels.cols} weights, one thread\n`);
console.log('| weights | build | MiB | 1 token: ms | GB/s of weights | 16 tokens: ms | GMAC/s |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const k of kernels.results) {
  console.log(
    `| ${k.type} | ${k.relaxed ? 'relaxed' : 'simd'} | ${format(k.bytes / 2 ** 20, 1)} | ${format(k.one.ms, 2)} | ${format(k.one.gbs, 1)} | ` +
      `${format(k.sixteen.ms, 1)} | ${format(k.sixteen.gmacs, 1)} |`,
  );
}

console.log('\n## Append cost per token, one head, head dim 128 (paged vs flat realloc+copy)\n');
console.log('| tokens per head | paged ns/token | flat ns/token | flat / paged |');
console.log('| ---: | ---: | ---: | ---: |');
for (const row of await benchAppend()) {
  console.log(`| ${row.tokens} | ${format(row.pagedNs, 0)} | ${format(row.flatNs, 0)} | ${format(row.ratio, 1)}x |`);
}

const selection = await benchSelection();
console.log(`\n## Adaptive selection, ${selection.layers} layers x ${selection.kvHeads} KV heads x ${selection.prompt}-token prompt, B = 2048\n`);
console.log(`${format(selection.ms, 1)} ms for ${selection.entries} scored entries: ${format(selection.nsPerEntry, 2)} ns per entry (${selection.kept} kept)`);

const attention = await benchAttention();
console.log(`\n## Decode attention, one layer: 32 query / 8 KV heads, head dim 128, ${attention.tokens} tokens per head\n`);
console.log('| build | threads | full cache ms | K/V read GB/s | read loop GB/s (1 thread) | attention / read loop | 8x compressed ms | speedup |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of attention.runs) {
  console.log(
    `| ${r.variant} | ${r.threads} | ${format(r.fullMs, 2)} | ${format(r.attendGBs, 1)} | ${format(r.readGBs, 1)} | ${format((r.attendGBs / r.readGBs) * 100, 0)}% | ` +
      `${format(r.compressedMs, 3)} | ${format(r.speedup, 1)}x |`,
  );
}

console.log('\n## Memory after Ada-KV compression of a 4096-token prompt (32 layers x 8 KV heads, d 128, block 16)\n');
console.log('| budget | kept rows | ideal MiB | held MiB | internal waste | metadata |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of await benchMemory()) {
  const mib = (bytes) => format(bytes / 2 ** 20, 1);
  console.log(`| ${row.budget} | ${row.keptRows} | ${mib(row.idealBytes)} | ${mib(row.heldBytes)} | ${format(row.wastePercent, 1)}% | ${format(row.metadataPercent, 2)}% |`);
}

printKvFormats(await benchKvFormatMemory(), await benchKvFormatSpeed());
