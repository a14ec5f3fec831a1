import type { CacheGeometry, LayerObservation } from '../../src/index.js';

export function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/**
 * Random prefill observations whose heads differ in how peaked their attention is (the situation
 * Ada-KV exploits): each KV head's keys get their own scale, so some heads attend sharply and some flatly.
 * Values are a per-head direction plus noise.
 */
export function randomObservations(geometry: CacheGeometry, tokens: number, seed: number): LayerObservation[] {
  const random = xorshift(seed);
  const { layers, queryHeads, kvHeads, headDim } = geometry;
  const group = queryHeads / kvHeads;
  return Array.from({ length: layers }, () => {
    const sharpness = Array.from({ length: kvHeads }, () => 0.2 + 4 * random() ** 2);
    const keys = new Float32Array(tokens * kvHeads * headDim);
    const queries = new Float32Array(tokens * queryHeads * headDim);
    // values share a per-head direction plus noise, as real value vectors along a sequence do
    const direction = Float32Array.from({ length: kvHeads * headDim }, () => random() * 2 - 1);
    const values = Float32Array.from({ length: keys.length }, (_, i) => direction[i % (kvHeads * headDim)]! + 0.5 * (random() * 2 - 1));
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < kvHeads; h++) {
        for (let i = 0; i < headDim; i++) keys[(t * kvHeads + h) * headDim + i] = (random() * 2 - 1) * sharpness[h]!;
      }
      for (let q = 0; q < queryHeads; q++) {
        const scale = sharpness[Math.floor(q / group)]!;
        for (let i = 0; i < headDim; i++) queries[(t * queryHeads + q) * headDim + i] = (random() * 2 - 1) * scale;
      }
    }
    return { queries, keys, values };
  });
}

/**
 * A random attention output projection W_o for `geometry` (`[modelDim][queryHeads * headDim]` per
 * layer), for methods that weigh values through it (CriticalKV): some columns larger than others, so
 * the value norms differ between heads and entries.
 */
export function randomOutputProjection(geometry: CacheGeometry, modelDim: number, seed: number): (layer: number) => Float32Array {
  const random = xorshift(seed);
  const width = geometry.queryHeads * geometry.headDim;
  const layers = Array.from({ length: geometry.layers }, () => {
    const columnScale = Array.from({ length: width }, () => 0.2 + 2 * random());
    return Float32Array.from({ length: modelDim * width }, (_, i) => (random() * 2 - 1) * columnScale[i % width]!);
  });
  return (layer) => layers[layer]!;
}
