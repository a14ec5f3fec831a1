/**
 * PyramidKV's layer budgets (Cai et al., 2024, arXiv 2406.02069), as the reference computes them:
 * `min = floor(B' / beta)`, `max = 2B' - min`; when `max >= Lp` then `max = Lp`, `min = 2B' - max`;
 * `steps = floor((max - min) / (layers - 1))`; layer `l` gets `max - l * steps` selectable tokens.
 * Lower layers keep more, the average stays near `B'`.
 */
export function pyramidLayerBudgets(selectable: number, layers: number, prefixLength: number, beta: number): Int32Array {
  if (layers === 1) return Int32Array.of(selectable);
  let min = Math.floor(selectable / beta);
  let max = 2 * selectable - min;
  if (max >= prefixLength) {
    max = prefixLength;
    min = 2 * selectable - max;
  }
  const steps = Math.floor((max - min) / (layers - 1));
  return Int32Array.from({ length: layers }, (_, l) => Math.max(0, max - l * steps));
}

/** @deprecated The old name of {@link pyramidLayerBudgets}, kept so existing imports work. */
export const pyramidSchedule = pyramidLayerBudgets;
