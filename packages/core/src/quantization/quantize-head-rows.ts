import { INT4_GROUP, type KvFormat } from '@adakv/allocator-wasm';
import { OptionError, ShapeError } from '../errors.js';
import { storedHalf } from './half.js';
import { type Levels, roundTrip, scaleOf } from './symmetric.js';

/** One head's K and V rows `[rows][headDim]` as a pool of some format gives them back. */
export interface HeadRows {
  /** Keys `[rows][headDim]`. */
  readonly keys: Float32Array;
  /** Values `[rows][headDim]`. */
  readonly values: Float32Array;
}

/** How the rows of a head's partly filled last block are held. */
export interface QuantizeHeadRowsOptions {
  /**
   * `'f32'` (default): exact, as an int8/int4 pool holds them after appends (the residual, encoded
   * once the block fills). `'encoded'`: encoded over the rows the block holds, as a compaction leaves
   * them. f32 and f16 pools hold every block alike.
   */
  readonly lastBlock?: 'f32' | 'encoded';
}

function encodeRowsF16(from: Float32Array, to: Float32Array, first: number, end: number): void {
  for (let i = first; i < end; i++) to[i] = storedHalf(from[i]!);
}

/** Keys: one scale per channel over the block's rows. */
function encodeKeys(keys: Float32Array, out: Float32Array, d: number, first: number, rows: number, levels: Levels): void {
  for (let c = 0; c < d; c++) {
    const s = scaleOf(keys, first * d + c, rows, d, levels);
    for (let r = first; r < first + rows; r++) out[r * d + c] = roundTrip(keys[r * d + c]!, s, levels);
  }
}

/** Values: one scale per `group` channels of a row (the whole row when `group >= d`). */
function encodeValues(values: Float32Array, out: Float32Array, d: number, first: number, rows: number, levels: Levels, group: number): void {
  for (let r = first; r < first + rows; r++) {
    for (let from = 0; from < d; from += group) {
      const count = Math.min(group, d - from);
      const s = scaleOf(values, r * d + from, count, 1, levels);
      for (let c = from; c < from + count; c++) out[r * d + c] = roundTrip(values[r * d + c]!, s, levels);
    }
  }
}

/**
 * What a pool of `format` gives back (`keys()`/`values()`) for one head's rows `[rows][headDim]`
 * appended from row 0 into blocks of `blockSize` rows: f32 exact; f16 rounded to nearest even
 * (saturated at +-65504, NaN as 0); int8/int4 symmetric, keys scaled per channel over each block's
 * rows, values per row (int4: per 32 channels of a row), scales rounded up to binary16, in the pool's own f32 arithmetic, so the
 * result is bit for bit the pool's. A partly filled last block is exact in int8/int4 unless
 * `lastBlock: 'encoded'`.
 */
export function quantizeHeadRows(
  format: KvFormat,
  keys: Float32Array,
  values: Float32Array,
  headDim: number,
  blockSize: number,
  options: QuantizeHeadRowsOptions = {},
): HeadRows {
  const d = headDim;
  if (!Number.isInteger(d) || d < 1 || !Number.isInteger(blockSize) || blockSize < 1) {
    throw new OptionError(`quantizeHeadRows: headDim and blockSize must be whole numbers >= 1, got ${headDim} and ${blockSize}.`);
  }
  if (keys.length !== values.length || keys.length % d !== 0) {
    throw new ShapeError(`quantizeHeadRows: keys and values must both be [rows][${d}]; got ${keys.length} and ${values.length} floats.`);
  }
  if (format === 'int4' && d % 2 !== 0) throw new OptionError(`int4 needs an even head dim, got ${d}.`);
  const outKeys = Float32Array.from(keys);
  const outValues = Float32Array.from(values);
  const rows = keys.length / d;
  if (format === 'f32') return { keys: outKeys, values: outValues };
  if (format === 'f16') {
    encodeRowsF16(keys, outKeys, 0, keys.length);
    encodeRowsF16(values, outValues, 0, values.length);
    return { keys: outKeys, values: outValues };
  }
  const levels: Levels = format === 'int8' ? 127 : 7;
  const group = format === 'int8' ? d : INT4_GROUP;
  const encodedRows = options.lastBlock === 'encoded' ? rows : rows - (rows % blockSize);
  for (let first = 0; first < encodedRows; first += blockSize) {
    const count = Math.min(blockSize, encodedRows - first);
    encodeKeys(keys, outKeys, d, first, count, levels);
    encodeValues(values, outValues, d, first, count, levels, group);
  }
  return { keys: outKeys, values: outValues };
}
