import { ShapeError } from './errors.js';

/**
 * Shape of a KV cache. GQA throughout: `queryHeads` is a multiple of `kvHeads`, and K/V are stored
 * once per KV head, never repeated per query head.
 */
export interface CacheGeometry {
  readonly layers: number;
  readonly queryHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** Query heads that share one KV head. */
export function groupSize(geometry: CacheGeometry): number {
  return geometry.queryHeads / geometry.kvHeads;
}

export function validateGeometry(geometry: CacheGeometry): CacheGeometry {
  const { layers, queryHeads, kvHeads, headDim } = geometry;
  for (const [name, value] of Object.entries({ layers, queryHeads, kvHeads, headDim })) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new ShapeError(`Cache geometry: ${name} must be a positive integer, got ${value}.`);
    }
  }
  if (queryHeads % kvHeads !== 0) {
    throw new ShapeError(
      `Cache geometry: queryHeads (${queryHeads}) must be a multiple of kvHeads (${kvHeads}).`,
    );
  }
  return geometry;
}
