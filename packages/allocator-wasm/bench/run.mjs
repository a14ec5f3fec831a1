// `npm run bench`: every benchmark of the allocator in one run, so ratios compare like with like.
// Build first (`npm run build`); the bench imports dist/ as a user would.
import { benchAppend } from './append.mjs';
import { benchAttention } from './attention.mjs';
import { benchMemory } from './memory.mjs';
import { benchSelection } from './selection.mjs';
import { format } from './timing.mjs';

console.log('## Append cost per token, one head, head dim 128 (paged vs flat realloc+copy)\n');
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
console.log(`full cache: ${format(attention.fullMs, 2)} ms, ${format(attention.attendGBs, 1)} GB/s of K/V read`);
console.log(`plain WASM SIMD read loop over the same bytes: ${format(attention.readGBs, 1)} GB/s -> attention runs at ${format((attention.attendGBs / attention.readGBs) * 100, 0)}% of it`);
console.log(`8x compressed cache: ${format(attention.compressedMs, 3)} ms, ${format(attention.speedup, 1)}x faster than full`);

console.log('\n## Memory after Ada-KV compression of a 4096-token prompt (32 layers x 8 KV heads, d 128, block 16)\n');
console.log('| budget | kept rows | ideal MiB | held MiB | internal waste | metadata |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of await benchMemory()) {
  const mib = (bytes) => format(bytes / 2 ** 20, 1);
  console.log(`| ${row.budget} | ${row.keptRows} | ${mib(row.idealBytes)} | ${mib(row.heldBytes)} | ${format(row.wastePercent, 1)}% | ${format(row.metadataPercent, 2)}% |`);
}
