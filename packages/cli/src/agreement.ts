/** How far two token sequences agree: where they first differ (null if never) and the share of equal positions. */
export function tokenAgreement(a: readonly number[], b: readonly number[]): { share: number; firstDifference: number | null } {
  const length = Math.max(a.length, b.length);
  if (length === 0) return { share: 1, firstDifference: null };
  let equal = 0;
  let firstDifference: number | null = null;
  for (let i = 0; i < length; i++) {
    if (a[i] === b[i]) equal++;
    else firstDifference ??= i;
  }
  return { share: equal / length, firstDifference };
}
