import { ShapeError } from './errors.js';

/**
 * Shape of a KV cache. GQA throughout: `queryHeads` is a multiple of `kvHeads`, and K/V are stored
 * once per KV head, never repeated per query head.
 */
export interface CacheGeometry {
  /** Transformer layers. */
  readonly layers: number;
  /** Query heads per layer. */
  readonly queryHeads: number;
  /** Key/value heads per layer. */
  readonly kvHeads: number;
  /** Width of one head. */
  readonly headDim: number;
}

/** Query heads that share one KV head. */
export function groupSize(geometry: CacheGeometry): number {
  return geometry.queryHeads / geometry.kvHeads;
}

/** Most (layer, KV head) pairs one sequence may have: the WASM allocator's limit, for every store. */
export const MAX_HEADS_PER_SEQUENCE = 1 << 20;
/** Largest head dimension any store accepts (the WASM allocator's limit). */
export const MAX_HEAD_DIM = 4096;

/**
 * Returns `geometry` unchanged, or throws a {@link ShapeError} saying what is wrong with it (non-positive
 * sizes, too many heads, too wide a head, query heads not a multiple of KV heads).
 */
export function validateGeometry(geometry: CacheGeometry): CacheGeometry {
  const { layers, queryHeads, kvHeads, headDim } = geometry;
  for (const [name, value] of Object.entries({ layers, queryHeads, kvHeads, headDim })) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new ShapeError(`Cache geometry: ${name} must be a positive integer, got ${value}.`);
    }
  }
  // refused up front: a store of absurd size would otherwise hang allocating its head tables
  if (layers * kvHeads > MAX_HEADS_PER_SEQUENCE) {
    throw new ShapeError(`Cache geometry: ${layers} layers x ${kvHeads} KV heads exceed the ${MAX_HEADS_PER_SEQUENCE} heads a sequence may have; check the model's configuration.`);
  }
  if (headDim > MAX_HEAD_DIM) {
    throw new ShapeError(`Cache geometry: headDim ${headDim} exceeds the largest supported (${MAX_HEAD_DIM}).`);
  }
  if (queryHeads % kvHeads !== 0) {
    throw new ShapeError(
      `Cache geometry: queryHeads (${queryHeads}) must be a multiple of kvHeads (${kvHeads}).`,
    );
  }
  return geometry;
}
