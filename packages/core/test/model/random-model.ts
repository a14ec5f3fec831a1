/** A llama2.c checkpoint with seeded random weights, for shapes stories15M does not have (GQA, odd sizes). */
export interface RandomModelShape {
  dim: number;
  hiddenDim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  contextLength: number;
}

export function randomCheckpoint(shape: RandomModelShape, seed: number): Uint8Array {
  const { dim, hiddenDim, layers, heads, kvHeads, vocab, contextLength } = shape;
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32 - 0.5;
  };
  const counts: Array<[number, 'weight' | 'norm' | 'zero']> = [
    [vocab * dim, 'weight'],
    [layers * dim, 'norm'],
    [layers * dim * dim, 'weight'],
    [layers * kvDim * dim, 'weight'],
    [layers * kvDim * dim, 'weight'],
    [layers * dim * dim, 'weight'],
    [layers * dim, 'norm'],
    [layers * hiddenDim * dim, 'weight'],
    [layers * dim * hiddenDim, 'weight'],
    [layers * hiddenDim * dim, 'weight'],
    [dim, 'norm'],
    [contextLength * headDim, 'zero'],
  ];
  const total = counts.reduce((sum, [count]) => sum + count, 0);
  const bytes = new Uint8Array(28 + total * 4);
  new Int32Array(bytes.buffer, 0, 7).set([dim, hiddenDim, layers, heads, kvHeads, vocab, contextLength]);
  const floats = new Float32Array(bytes.buffer, 28, total);
  let offset = 0;
  for (const [count, kind] of counts) {
    for (let i = 0; i < count; i++) floats[offset + i] = kind === 'weight' ? random() * 0.6 : kind === 'norm' ? 1 + random() * 0.2 : 0;
    offset += count;
  }
  return bytes;
}
