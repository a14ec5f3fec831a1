import { type KvFormat, kvBlockBytes } from '@adakv/allocator-wasm';
import { OptionError } from '../errors.js';

/** Bytes of one pool block of `blockSize` rows of K and V in `format`, scales and padding included. */
export function bytesPerBlock(format: KvFormat, headDim: number, blockSize: number): number {
  if (!Number.isInteger(headDim) || headDim < 1 || !Number.isInteger(blockSize) || blockSize < 1) {
    throw new OptionError(`bytesPerBlock: headDim and blockSize must be whole numbers >= 1, got ${headDim} and ${blockSize}.`);
  }
  return kvBlockBytes(format, blockSize, headDim);
}

/**
 * Bytes of a head's f32 residual in `format`: an int8/int4 head's partly filled last block, its
 * `blockSize` rows of K and V held in f32 until the block fills; 0 for f32 and f16, which need none.
 */
export function residualBytes(format: KvFormat, headDim: number, blockSize: number): number {
  return format === 'int8' || format === 'int4' ? 2 * blockSize * headDim * 4 : 0;
}

/**
 * Bytes a pool of `format` holds for heads of `entriesPerHead` entries each: whole blocks per head
 * (a partly filled block costs a whole one). An int8/int4 head whose last block is partly filled
 * after appends also holds it in f32 until it fills (the pool's residual, `2 x blockSize x headDim x
 * 4` bytes), which this does not count: a compacted head holds no residual. `blockBytes` is one
 * block's bytes where a store lays blocks out otherwise (`backend.blockBytes`; the wasm pool's by default).
 */
export function heldBytes(format: KvFormat, entriesPerHead: ArrayLike<number>, headDim: number, blockSize: number, blockBytes?: number): number {
  const block = blockBytes ?? bytesPerBlock(format, headDim, blockSize);
  let blocks = 0;
  for (let i = 0; i < entriesPerHead.length; i++) {
    const entries = entriesPerHead[i]!;
    if (!Number.isInteger(entries) || entries < 0) throw new OptionError(`heldBytes: entries must be whole numbers >= 0, got ${entries}.`);
    blocks += Math.ceil(entries / blockSize);
  }
  return blocks * block;
}
