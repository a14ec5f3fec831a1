import { kvFormatName, type KvFormat } from './kv-format.js';

/** What a pool holds (src/cpp/stats.h, PoolStat order). */
export interface PoolStats {
  /** Blocks the pool has. */
  totalBlocks: number;
  /** Blocks free for appends. */
  freeBlocks: number;
  /** Blocks held by sequences. */
  usedBlocks: number;
  /** K + V bytes of one block in the pool's format, scales included. */
  blockBytes: number;
  /** Bytes of the used blocks, each in its head's format (usedBlocks x blockBytes when every head uses the pool's), plus residualBytes. */
  heldBytes: number;
  /** Rows (tokens of one head) stored across all sequences. */
  storedRows: number;
  /** Empty row slots inside used blocks (internal fragmentation). */
  wastedRows: number;
  /** Block tables, per-row positions, the free list and other bookkeeping. */
  metadataBytes: number;
  /** Sequences in the pool. */
  sequences: number;
  /** f32 rows of the partly filled last blocks of int8/int4 heads (the residual), in bytes. */
  residualBytes: number;
  /** The storage format of the pool's blocks (of every head that does not name its own). */
  format: KvFormat;
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
  /** Bytes of its residual rows (int8/int4 pools), included in heldBytes. */
  residualBytes: number;
}

export const POOL_STAT_COUNT = 11;
export const SEQUENCE_STAT_COUNT = 5;

export function poolStatsFrom(values: Float64Array): PoolStats {
  const [totalBlocks, freeBlocks, usedBlocks, blockBytes, heldBytes, storedRows, wastedRows, metadataBytes, sequences, residualBytes, format] =
    Array.from(values) as [number, number, number, number, number, number, number, number, number, number, number];
  return { totalBlocks, freeBlocks, usedBlocks, blockBytes, heldBytes, storedRows, wastedRows, metadataBytes, sequences, residualBytes, format: kvFormatName(format) };
}

export function sequenceStatsFrom(values: Float64Array): SequenceStats {
  const [blocks, rows, heldBytes, metadataBytes, residualBytes] = Array.from(values) as [number, number, number, number, number];
  return { blocks, rows, heldBytes, metadataBytes, residualBytes };
}
