/** Uniform layer budgets: every layer gets the same selectable budget `B'`. */
export function uniformLayerBudgets(selectable: number, layers: number): Int32Array {
  return new Int32Array(layers).fill(selectable);
}
