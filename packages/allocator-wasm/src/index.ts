/** Tokens per block unless the caller chooses otherwise. */
export const DEFAULT_BLOCK_SIZE = 16;

/** Blocks needed to hold `tokens` entries of one head. */
export function blocksFor(tokens: number, blockSize = DEFAULT_BLOCK_SIZE): number {
  return Math.ceil(tokens / blockSize);
}
