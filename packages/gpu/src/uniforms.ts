/** Rounds `size` up to a multiple of `alignment` (a power of two), as WGSL layout rules need. */
export function alignTo(size: number, alignment: number): number {
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new RangeError(`alignment must be a power of two, got ${alignment}`);
  }
  return (size + alignment - 1) & ~(alignment - 1);
}
