export { Allocator, loadAllocator } from './allocator.js';
export type { AllocatorExports } from './abi.js';
export { BlockPool, DEFAULT_BLOCK_SIZE, type BlockPoolOptions, type FlatLayerView } from './block-pool.js';
export { AllocatorError, type AllocatorErrorCode } from './errors.js';
export { selectAdaptive, type AdaptiveSelection } from './select.js';
export type { PoolStats, SequenceStats } from './stats.js';
export { defaultWasmUrl, type WasmSource } from './wasm-source.js';

/** Blocks needed to hold `tokens` entries of one head. */
export function blocksFor(tokens: number, blockSize = 16): number {
  return Math.ceil(tokens / blockSize);
}
