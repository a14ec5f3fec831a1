/**
 * Storage formats of a `BlockPool`'s K/V blocks (src/cpp/kv_format.h), the pool's or one per head:
 * - `f32`: as given (4 bytes per element);
 * - `f16`: IEEE binary16, rounded to nearest even (2 bytes);
 * - `int8`: symmetric 8-bit, keys with one scale per channel over each block's rows, values one scale
 *   per row (KIVI's choice);
 * - `int4`: symmetric 4-bit (q in [-7, 7]), keys one scale per channel per block, values one scale per
 *   32 channels of a row. Needs an even head dim.
 * int8/int4 scales are binary16 (2 bytes), each the smallest one >= max|x| / levels, so
 * |error| <= scale / 2 per element (scales saturate at 65504: larger elements clamp).
 * int8 and int4 hold a head's partly filled last block in f32 (the residual) until it fills.
 */
export type KvFormat = 'f32' | 'f16' | 'int8' | 'int4';

/** The formats in the order of their C ABI ids. */
export const KV_FORMATS: readonly KvFormat[] = ['f32', 'f16', 'int8', 'int4'];

/** Channels per value scale in int4 blocks. */
export const INT4_GROUP = 32;

/** The C ABI id of a format (its index in {@link KV_FORMATS}), or -1. */
export function kvFormatId(format: string): number {
  return KV_FORMATS.indexOf(format as KvFormat);
}

export function kvFormatName(id: number): KvFormat {
  return KV_FORMATS[id] ?? 'f32';
}

/**
 * Bytes of one block of `blockSize` rows of K and V of `headDim` elements in `format`, its 2-byte
 * scales included (int8 and int4 padded to a multiple of 4 bytes).
 */
export function kvBlockBytes(format: KvFormat, blockSize: number, headDim: number): number {
  const padded = (bytes: number) => Math.ceil(bytes / 4) * 4;
  switch (format) {
    case 'f16':
      return 4 * blockSize * headDim;
    case 'int8':
      return padded(2 * headDim + 2 * blockSize + 2 * blockSize * headDim);
    case 'int4':
      return padded(2 * headDim + 2 * blockSize * Math.ceil(headDim / INT4_GROUP) + 2 * blockSize * Math.floor(headDim / 2));
    default:
      return 8 * blockSize * headDim;
  }
}
