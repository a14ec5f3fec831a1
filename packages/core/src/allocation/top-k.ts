/**
 * Ordering of scored entries shared by every allocation (and by the GPU kernels): higher score
 * first, then lower head, then lower token index. Deterministic, so backends pick the same entries.
 */
export function outranks(scoreA: number, headA: number, indexA: number, scoreB: number, headB: number, indexB: number): boolean {
  if (scoreA !== scoreB) return scoreA > scoreB;
  if (headA !== headB) return headA < headB;
  return indexA < indexB;
}

/** Indices of the `k` best-scored entries of one head, in ascending index order. */
export function topKIndices(scores: Float32Array, k: number): Int32Array {
  const count = Math.max(0, Math.min(k, scores.length));
  if (count === scores.length) return Int32Array.from({ length: count }, (_, i) => i);
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => (outranks(scores[a]!, 0, a, scores[b]!, 0, b) ? -1 : 1));
  return order.subarray(0, count).sort();
}

/**
 * How many of the `k` best entries across all heads (flattened, ties by {@link outranks}) each head
 * holds: Ada-KV's per-head counts `c_h`.
 */
export function countTopAcrossHeads(scores: readonly Float32Array[], k: number): Int32Array {
  const entries: { score: number; head: number; index: number }[] = [];
  scores.forEach((row, head) => row.forEach((score, index) => entries.push({ score, head, index })));
  entries.sort((a, b) => (outranks(a.score, a.head, a.index, b.score, b.head, b.index) ? -1 : 1));
  const counts = new Int32Array(scores.length);
  for (const entry of entries.slice(0, Math.max(0, k))) counts[entry.head]! += 1;
  return counts;
}
