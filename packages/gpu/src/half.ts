/** The f32 value of IEEE-754 binary16 bits (what WGSL's pack2x16float stores). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Unpacks little-endian binary16 values (two per 32-bit word) into f32. */
export function decodeHalves(bytes: ArrayBuffer): Float32Array {
  const halves = new Uint16Array(bytes);
  return Float32Array.from(halves, halfToFloat);
}
