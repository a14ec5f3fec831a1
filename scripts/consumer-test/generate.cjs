// CommonJS consumer: the same run through require().
const { DEMO_PROMPT, Generator, chooseBackend } = require('@adakv/core');
const { loadDefaultModel } = require('@adakv/core/node');

async function main() {
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
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
