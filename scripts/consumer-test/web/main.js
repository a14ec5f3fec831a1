// A page as a user writes it against the published @adakv/core: the wasm backend, a llama2.c model
// fetched from the host, a few decode steps with Ada-SnapKV after prefill. No bundler rule for
// @huggingface/tasks: the GGUF reader must stay out of the initial chunk by itself, and load on
// demand when a GGUF file comes.
import { DEMO_PROMPT, Generator, chooseBackend, loadModel } from '@adakv/core';

const out = document.getElementById('out');
try {
  const [model, tokenizer] = await Promise.all(
    ['model/model.bin', 'model/tokenizer.bin'].map(async (path) => {
      const response = await fetch(path);
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    }),
  );
  const { backend } = await chooseBackend('wasm');
  const generator = new Generator(await loadModel(model, { tokenizer }), {
    backend,
    afterPrefill: ({ store, observations }) =>
      backend.compress(store, observations, { method: 'ada-snapkv', budget: 32, options: { window: 16 } }),
  });
  const { tokens, text, prefill } = await generator.generate(DEMO_PROMPT, { steps: 8 });
  const plan = prefill.afterPrefill;
  backend.dispose();
  // A GGUF header with no metadata: loading it fetches the lazy GGUF chunk, which refuses the file.
  const gguf = await loadModel(new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 0, 0, 0, 0])).then(
    () => 'loaded',
    (error) => error.code ?? String(error),
  );
  window.adakvResult = { tokens, text, kept: plan.achievedTotal, before: plan.originalTotal, engine: backend.description, isolated: self.crossOriginIsolated, gguf };
  out.textContent = text;
} catch (error) {
  window.adakvResult = { error: String(error && error.stack ? error.stack : error) };
}
