/** Uniform allocation: every head may keep `selectable` of its entries (capped at what it has). */
export function uniformAllocation(scores: readonly Float32Array[], selectable: number): Int32Array {
  return Int32Array.from(scores, (row) => Math.min(row.length, Math.max(0, selectable)));
}
