import { AllocatorError } from './errors.js';
import { type TensorType, blockWeights, tensorByteLength } from './tensor-formats.js';

// Plain reference (de)quantizers for the formats the engine reads, written for clarity, not speed.
// q8_0 and q4_0 follow llama.cpp's quantize_row_*_ref exactly; q4_K and q6_K use llama.cpp's block
// layouts and scale packing with a simpler choice of scales (range / 15 per sub-block for q4_K,
// max / -32 per 16 for q6_K) instead of llama.cpp's weighted search, so they are valid but a little
// less accurate than llama-quantize's output.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fround = Math.fround;

/** IEEE binary16 bits of `value`, rounded to nearest even (overflow to infinity). */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The number binary16 bits stand for. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 bits of `value` (the top half of its f32 bits, rounded to nearest even). */
export function floatToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float whose bfloat16 bits are `bits`. */
export function bf16ToFloat(bits: number): number {
  u32[0] = bits << 16;
  return f32[0]!;
}

/** C's roundf: halves away from zero. */
const roundAway = (v: number): number => (v < 0 ? -Math.round(-v) : Math.round(v));
/** llama.cpp's nearest_int: halves to even. */
function nearestEven(v: number): number {
  const floor = Math.floor(v);
  const diff = v - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function quantizeQ8_0Block(x: Float32Array, offset: number, out: DataView, at: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[offset + j]!));
  const d = fround(amax / 127);
  const id = d ? fround(1 / d) : 0;
  out.setUint16(at, floatToHalf(d), true);
  for (let j = 0; j < 32; j++) out.setInt8(at + 2 + j, roundAway(fround(x[offset + j]! * id)));
}

function quantizeQ4_0Block(x: Float32Array, offset: number, out: DataView, at: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[offset + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = fround(max / -8);
  const id = d ? fround(1 / d) : 0;
  out.setUint16(at, floatToHalf(d), true);
  for (let j = 0; j < 16; j++) {
    const x0 = Math.min(15, Math.trunc(fround(fround(x[offset + j]! * id) + 8.5)));
    const x1 = Math.min(15, Math.trunc(fround(fround(x[offset + 16 + j]! * id) + 8.5)));
    out.setUint8(at + 2 + j, x0 | (x1 << 4));
  }
}

/** llama.cpp's get_scale_min_k4. */
export function q4kScaleMin(j: number, scales: Uint8Array | DataView, at = 0): [number, number] {
  const byte = (i: number) => (scales instanceof DataView ? scales.getUint8(at + i) : scales[at + i]!);
  if (j < 4) return [byte(j) & 63, byte(j + 4) & 63];
  return [(byte(j + 4) & 0x0f) | ((byte(j - 4) >> 6) << 4), (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4)];
}

function quantizeQ4_KBlock(x: Float32Array, offset: number, out: DataView, at: number): void {
  const scales = new Float64Array(8);
  const mins = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let l = 0; l < 32; l++) {
      lo = Math.min(lo, x[offset + 32 * j + l]!);
      hi = Math.max(hi, x[offset + 32 * j + l]!);
    }
    lo = Math.min(lo, 0);
    scales[j] = (hi - lo) / 15;
    mins[j] = -lo;
  }
  const maxScale = Math.max(...scales);
  const maxMin = Math.max(...mins);
  const inverseScale = maxScale > 0 ? 63 / maxScale : 0;
  const inverseMin = maxMin > 0 ? 63 / maxMin : 0;
  const packed = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestEven(inverseScale * scales[j]!));
    const lm = Math.min(63, nearestEven(inverseMin * mins[j]!));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      packed[j - 4]! |= (ls >> 4) << 6;
      packed[j]! |= (lm >> 4) << 6;
    }
  }
  const dBits = floatToHalf(maxScale / 63);
  const dminBits = floatToHalf(maxMin / 63);
  out.setUint16(at, dBits, true);
  out.setUint16(at + 2, dminBits, true);
  for (let i = 0; i < 12; i++) out.setUint8(at + 4 + i, packed[i]!);
  const levels = new Uint8Array(256);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = q4kScaleMin(j, packed);
    const d = halfToFloat(dBits) * sc;
    if (!d) continue;
    const dm = halfToFloat(dminBits) * m;
    for (let l = 0; l < 32; l++) levels[32 * j + l] = Math.max(0, Math.min(15, nearestEven((x[offset + 32 * j + l]! + dm) / d)));
  }
  for (let chunk = 0; chunk < 4; chunk++) {
    for (let l = 0; l < 32; l++) out.setUint8(at + 16 + 32 * chunk + l, levels[64 * chunk + l]! | (levels[64 * chunk + 32 + l]! << 4));
  }
}

function quantizeQ6_KBlock(x: Float32Array, offset: number, out: DataView, at: number): void {
  const scales = new Float64Array(16);
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    let amax = 0;
    let max = 0;
    for (let l = 0; l < 16; l++) {
      const v = x[offset + 16 * ib + l]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    scales[ib] = max / -32;
    if (Math.abs(scales[ib]!) > maxAbsScale) {
      maxAbsScale = Math.abs(scales[ib]!);
      maxScale = scales[ib]!;
    }
  }
  for (let i = 0; i < 210; i++) out.setUint8(at + i, 0);
  if (maxAbsScale < 1e-15) return;
  const iscale = -128 / maxScale;
  const dBits = floatToHalf(1 / iscale);
  out.setUint16(at + 208, dBits, true);
  const sc = new Int8Array(16);
  for (let ib = 0; ib < 16; ib++) sc[ib] = Math.min(127, nearestEven(iscale * scales[ib]!));
  for (let ib = 0; ib < 16; ib++) out.setInt8(at + 192 + ib, sc[ib]!);
  const levels = new Uint8Array(256);
  for (let j = 0; j < 16; j++) {
    const d = halfToFloat(dBits) * sc[j]!;
    if (!d) {
      levels.fill(32, 16 * j, 16 * j + 16);
      continue;
    }
    for (let l = 0; l < 16; l++) levels[16 * j + l] = Math.max(-32, Math.min(31, nearestEven(x[offset + 16 * j + l]! / d))) + 32;
  }
  for (let half = 0; half < 2; half++) {
    const base = 128 * half;
    for (let l = 0; l < 32; l++) {
      const q1 = levels[base + l]!, q2 = levels[base + l + 32]!, q3 = levels[base + l + 64]!, q4 = levels[base + l + 96]!;
      out.setUint8(at + 64 * half + l, (q1 & 0xf) | ((q3 & 0xf) << 4));
      out.setUint8(at + 64 * half + l + 32, (q2 & 0xf) | ((q4 & 0xf) << 4));
      out.setUint8(at + 128 + 32 * half + l, (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

const blockQuantizers: Partial<Record<TensorType, [number, (x: Float32Array, offset: number, out: DataView, at: number) => void]>> = {
  q8_0: [34, quantizeQ8_0Block],
  q4_0: [18, quantizeQ4_0Block],
  q4_K: [144, quantizeQ4_KBlock],
  q6_K: [210, quantizeQ6_KBlock],
};

/** A row-major [rows][cols] f32 tensor as `type` bytes (cols must be whole blocks of the type). */
export function quantizeTensor(type: TensorType, values: Float32Array, rows: number, cols: number): Uint8Array {
  if (values.length !== rows * cols) {
    throw new AllocatorError('INVALID_ARGUMENT', `quantizeTensor: ${values.length} values are not [${rows}][${cols}].`);
  }
  const bytes = new Uint8Array(tensorByteLength(type, rows, cols));
  const view = new DataView(bytes.buffer);
  if (type === 'f32') {
    new Float32Array(bytes.buffer).set(values);
    return bytes;
  }
  if (type === 'f16' || type === 'bf16') {
    const encode = type === 'f16' ? floatToHalf : floatToBf16;
    for (let i = 0; i < values.length; i++) view.setUint16(2 * i, encode(values[i]!), true);
    return bytes;
  }
  const [blockBytes, quantize] = blockQuantizers[type]!;
  const weights = blockWeights(type);
  const blocks = values.length / weights;
  for (let b = 0; b < blocks; b++) quantize(values, b * weights, view, b * blockBytes);
  return bytes;
}

/** `type` bytes of a [rows][cols] tensor back to f32, as the engine reads them. */
export function dequantizeTensor(type: TensorType, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  const expected = tensorByteLength(type, rows, cols);
  if (bytes.byteLength !== expected) {
    throw new AllocatorError('INVALID_ARGUMENT', `dequantizeTensor: a [${rows}][${cols}] ${type} tensor has ${expected} bytes, got ${bytes.byteLength}.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(rows * cols);
  const count = out.length;
  switch (type) {
    case 'f32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case 'f16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    case 'bf16':
      for (let i = 0; i < count; i++) out[i] = bf16ToFloat(view.getUint16(2 * i, true));
      return out;
    case 'q8_0':
      for (let b = 0; b < count / 32; b++) {
        const d = halfToFloat(view.getUint16(34 * b, true));
        for (let j = 0; j < 32; j++) out[32 * b + j] = d * view.getInt8(34 * b + 2 + j);
      }
      return out;
    case 'q4_0':
      for (let b = 0; b < count / 32; b++) {
        const d = halfToFloat(view.getUint16(18 * b, true));
        for (let j = 0; j < 16; j++) {
          const byte = view.getUint8(18 * b + 2 + j);
          out[32 * b + j] = d * ((byte & 0xf) - 8);
          out[32 * b + 16 + j] = d * ((byte >> 4) - 8);
        }
      }
      return out;
    case 'q4_K':
      for (let b = 0; b < count / 256; b++) {
        const at = 144 * b;
        const d = halfToFloat(view.getUint16(at, true));
        const dmin = halfToFloat(view.getUint16(at + 2, true));
        for (let chunk = 0; chunk < 4; chunk++) {
          const [sc0, m0] = q4kScaleMin(2 * chunk, view, at + 4);
          const [sc1, m1] = q4kScaleMin(2 * chunk + 1, view, at + 4);
          for (let l = 0; l < 32; l++) {
            const byte = view.getUint8(at + 16 + 32 * chunk + l);
            out[256 * b + 64 * chunk + l] = d * sc0 * (byte & 0xf) - dmin * m0;
            out[256 * b + 64 * chunk + 32 + l] = d * sc1 * (byte >> 4) - dmin * m1;
          }
        }
      }
      return out;
    case 'q6_K':
      for (let b = 0; b < count / 256; b++) {
        const at = 210 * b;
        const d = halfToFloat(view.getUint16(at + 208, true));
        for (let half = 0; half < 2; half++) {
          for (let l = 0; l < 32; l++) {
            const is = Math.floor(l / 16);
            const ql0 = view.getUint8(at + 64 * half + l);
            const ql1 = view.getUint8(at + 64 * half + l + 32);
            const qh = view.getUint8(at + 128 + 32 * half + l);
            const sc = (k: number) => view.getInt8(at + 192 + 8 * half + is + k);
            const base = 256 * b + 128 * half;
            out[base + l] = d * sc(0) * (((ql0 & 0xf) | ((qh & 3) << 4)) - 32);
            out[base + l + 32] = d * sc(2) * (((ql1 & 0xf) | (((qh >> 2) & 3) << 4)) - 32);
            out[base + l + 64] = d * sc(4) * (((ql0 >> 4) | (((qh >> 4) & 3) << 4)) - 32);
            out[base + l + 96] = d * sc(6) * (((ql1 >> 4) | (((qh >> 6) & 3) << 4)) - 32);
          }
        }
      }
      return out;
    default:
      throw new AllocatorError('UNSUPPORTED_TYPE', `dequantizeTensor: unknown type ${String(type)}.`);
  }
}
