/** What a pool holds (src/cpp/stats.h, PoolStat order). */
export interface PoolStats {
  /** Blocks the pool has. */
  totalBlocks: number;
  /** Blocks free for appends. */
  freeBlocks: number;
  /** Blocks held by sequences. */
  usedBlocks: number;
  /** K + V bytes of one block. */
  blockBytes: number;
  /** usedBlocks x blockBytes. */
  heldBytes: number;
  /** Rows (tokens of one head) stored across all sequences. */
  storedRows: number;
  /** Empty row slots inside used blocks (internal fragmentation). */
  wastedRows: number;
  /** Block tables, per-row positions, the free list and other bookkeeping. */
  metadataBytes: number;
  /** Sequences in the pool. */
  sequences: number;
}

/** What one sequence holds (SequenceStat order). */
export interface SequenceStats {
  /** Blocks the sequence holds. */
  blocks: number;
  /** Rows (tokens of one head) it stores. */
  rows: number;
  /** Bytes of its blocks. */
  heldBytes: number;
  /** Bytes of its block tables and positions. */
  metadataBytes: number;
}

export const POOL_STAT_COUNT = 9;
export const SEQUENCE_STAT_COUNT = 4;

export function poolStatsFrom(values: Float64Array): PoolStats {
  const [totalBlocks, freeBlocks, usedBlocks, blockBytes, heldBytes, storedRows, wastedRows, metadataBytes, sequences] =
    Array.from(values) as [number, number, number, number, number, number, number, number, number];
  return { totalBlocks, freeBlocks, usedBlocks, blockBytes, heldBytes, storedRows, wastedRows, metadataBytes, sequences };
}

export function sequenceStatsFrom(values: Float64Array): SequenceStats {
  const [blocks, rows, heldBytes, metadataBytes] = Array.from(values) as [number, number, number, number];
  return { blocks, rows, heldBytes, metadataBytes };
}
