// The benchmark model's weights in another tensor type, for the engine benches.
import { quantizeTensor } from '../dist/index.js';

/** The f32 weights with every matrix stored as `type` (norms and RoPE tables stay f32). */
export function typedWeights(config, weights, type) {
  if (type === 'f32') return weights;
  const { dim, hiddenDim, queryHeads, kvHeads, headDim, vocabSize } = config;
  const qDim = queryHeads * headDim;
  const kvDim = kvHeads * headDim;
  const typed = (values, rows, cols) => ({ type, bytes: quantizeTensor(type, values, rows, cols) });
  const embedding = typed(weights.tokenEmbedding, vocabSize, dim);
  return {
    ...weights,
    tokenEmbedding: embedding,
    classifier: weights.classifier === weights.tokenEmbedding ? embedding : typed(weights.classifier, vocabSize, dim),
    layers: weights.layers.map((l) => ({
      ...l,
      wq: typed(l.wq, qDim, dim),
      wk: typed(l.wk, kvDim, dim),
      wv: typed(l.wv, kvDim, dim),
      wo: typed(l.wo, dim, qDim),
      w1: typed(l.w1, hiddenDim, dim),
      w2: typed(l.w2, dim, hiddenDim),
      w3: typed(l.w3, hiddenDim, dim),
    })),
  };
}
