/** Bytes of `entries` cached K and V rows of `headDim` values each (f32 by default). */
export function kvBytes(entries: number, headDim: number, bytesPerValue = 4): number {
  return entries * headDim * 2 * bytesPerValue;
}
