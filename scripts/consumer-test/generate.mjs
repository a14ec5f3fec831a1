// ESM consumer: the README's example as a user writes it after `npm install @adakv/core` (the
// default model comes from the user cache, fetched once through npm).
import { DEMO_PROMPT, Generator, chooseBackend } from '@adakv/core';
import { loadDefaultModel } from '@adakv/core/node';

const model = await loadDefaultModel();
const { backend } = await chooseBackend('wasm');
const generator = new Generator(model, {
  backend,
  afterPrefill: ({ store, observations }) =>
    backend.compress(store, observations, { method: 'ada-snapkv', budget: 32, options: { window: 16 } }),
});
const { tokens, text, prefill } = await generator.generate(DEMO_PROMPT, { steps: 8 });
const plan = prefill.afterPrefill;
backend.dispose();
console.log(JSON.stringify({ tokens, text, kept: plan.achievedTotal, before: plan.originalTotal, engine: backend.description }));
