import type { HeadContext } from './types.js';

/**
 * Causal attention probabilities of a head's query rows over all of its keys, in f32:
 * `softmax(q K^T / sqrt(d))` per (row, group member), with keys after the query's position masked.
 * Returns `[rows][groupSize][length]`. The last `rows` query rows are used (all when omitted).
 */
export function attentionProbabilities(head: HeadContext, rows?: number): Float32Array {
  const { keys, positions, queries, queryPositions, headDim: d, groupSize: g } = head;
  const length = positions.length;
  const available = queryPositions.length;
  const used = Math.min(rows ?? available, available);
  const first = available - used;
  const scale = 1 / Math.sqrt(d);
  const out = new Float32Array(used * g * length);
  for (let r = 0; r < used; r++) {
    const queryPosition = queryPositions[first + r]!;
    for (let m = 0; m < g; m++) {
      const q = ((first + r) * g + m) * d;
      const row = out.subarray((r * g + m) * length, (r * g + m + 1) * length);
      let max = -Infinity;
      for (let t = 0; t < length; t++) {
        if (positions[t]! > queryPosition) {
          row[t] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let i = 0; i < d; i++) dot += queries[q + i]! * keys[t * d + i]!;
        row[t] = dot * scale;
        if (row[t]! > max) max = row[t]!;
      }
      let sum = 0;
      for (let t = 0; t < length; t++) {
        const e = row[t] === -Infinity ? 0 : Math.exp(row[t]! - max);
        row[t] = e;
        sum += e;
      }
      const inverse = sum > 0 ? 1 / sum : 0; // a query that sees no key attends to nothing
      for (let t = 0; t < length; t++) row[t] = row[t]! * inverse;
    }
  }
  return out;
}
