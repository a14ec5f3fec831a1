import { describe, expect, it } from 'vitest';
import { type Model, OptionError, ReferenceStore, Transformer, cacheGeometry, loadLlama2cModel } from '../../src/index.js';
import { randomCheckpoint } from './random-model.js';
import { stories15m } from './stories15m.js';

async function expectBatchEqualsSingle(model: Model, prompts: number[][]): Promise<void> {
  const geometry = cacheGeometry(model.config);
  const single = new Transformer(model);
  const batched = new Transformer(model);
  const alone = prompts.map(() => new ReferenceStore(geometry));
  const together = prompts.map(() => new ReferenceStore(geometry));
  for (const [i, prompt] of prompts.entries()) {
    await single.prefill(prompt, alone[i]!);
    await batched.prefill(prompt, together[i]!);
  }
  let tokens = prompts.map((p) => p[p.length - 1]!);
  for (let step = 0; step < 4; step++) {
    const positions = prompts.map((p) => p.length + step);
    const rows = await batched.decodeBatch(tokens, positions, together);
    for (let i = 0; i < prompts.length; i++) {
      const expected = await single.decode(tokens[i]!, positions[i]!, alone[i]!);
      expect(rows[i]).toEqual(expected);
    }
    tokens = rows.map((row) => row.indexOf(Math.max(...row)));
  }
}

describe('batched decode', () => {
  it('gives every sequence exactly the logits of decoding it alone (stories15M, uneven lengths)', async () => {
    await expectBatchEqualsSingle(stories15m(), [[1, 9038, 2501], [1, 365, 2946, 263, 931, 29892, 727], [1, 450]]);
  });

  it('does so with GQA too', async () => {
    const model = loadLlama2cModel(
      randomCheckpoint({ dim: 48, hiddenDim: 70, layers: 2, heads: 6, kvHeads: 2, vocab: 37, contextLength: 32 }, 3),
    );
    await expectBatchEqualsSingle(model, [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]);
  });

  it('refuses mismatched inputs', async () => {
    const model = stories15m();
    await expect(new Transformer(model).decodeBatch([1, 2], [0], [])).rejects.toThrow(OptionError);
  });
});
