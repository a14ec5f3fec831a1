import type { GroupReduce } from './types.js';

/**
 * Reduces `[groupSize][length]` per-query-head scores of one GQA group to one row per KV head
 * (mean by default, max optional), before any pooling.
 */
export function reduceGroup(perQueryHead: Float32Array, groupSize: number, length: number, mode: GroupReduce): Float32Array {
  const out = new Float32Array(length);
  for (let t = 0; t < length; t++) {
    let acc = mode === 'max' ? -Infinity : 0;
    for (let m = 0; m < groupSize; m++) {
      const value = perQueryHead[m * length + t]!;
      acc = mode === 'max' ? Math.max(acc, value) : acc + value;
    }
    out[t] = mode === 'max' ? acc : acc / groupSize;
  }
  return out;
}
