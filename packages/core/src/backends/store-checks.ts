import { InvalidNumberError, ShapeError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';

/** The checks every store makes, shared so all of them fail alike, with the same words. */

/** NaN or an infinity in K, V or queries would spread through attention silently; refuse it where it enters. */
function checkFinite(what: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new InvalidNumberError(`${what} hold ${values[i]} at index ${i}; K, V and queries must be finite numbers.`);
  }
}

export function checkHead(geometry: CacheGeometry, layer: number, head: number): void {
  const inside = (value: number, size: number) => Number.isInteger(value) && value >= 0 && value < size;
  if (!inside(layer, geometry.layers) || !inside(head, geometry.kvHeads)) {
    throw new ShapeError(
      `No (layer ${layer}, KV head ${head}): the cache has ${geometry.layers} layers x ${geometry.kvHeads} KV heads.`,
    );
  }
}

/**
 * Checks an append and returns its token count: keys/values `[tokens][kvHeads][headDim]`, positions
 * `[tokens]` or, one per head, `[tokens][kvHeads]`.
 */
export function checkAppend(geometry: CacheGeometry, layer: number, keys: Float32Array, values: Float32Array, positions: Int32Array): number {
  const { kvHeads, headDim } = geometry;
  const perHead = kvHeads > 1 && positions.length % kvHeads === 0 && keys.length === positions.length * headDim;
  const tokens = perHead ? positions.length / kvHeads : positions.length;
  const expected = tokens * kvHeads * headDim;
  if (keys.length !== expected || values.length !== expected) {
    throw new ShapeError(
      `append: expected ${tokens} tokens x ${kvHeads} KV heads x ${headDim} = ${expected} floats ` +
        `for keys and values, got ${keys.length} and ${values.length}.`,
    );
  }
  checkHead(geometry, layer, 0);
  checkFinite('append: keys', keys);
  checkFinite('append: values', values);
  return tokens;
}

/** The position of token `t`'s row in head `h` of an append (positions `[tokens]` or `[tokens][kvHeads]`). */
export function appendedPosition(positions: Int32Array, tokens: number, t: number, h: number): number {
  return positions.length === tokens ? positions[t]! : positions[t * (positions.length / tokens) + h]!;
}

export function checkPlan(
  geometry: CacheGeometry,
  layer: number,
  kept: readonly Int32Array[],
  lengthOf: (head: number) => number,
): void {
  const { kvHeads } = geometry;
  if (kept.length !== kvHeads) {
    throw new ShapeError(`compact: expected a kept-index list for each of ${kvHeads} KV heads, got ${kept.length}.`);
  }
  checkHead(geometry, layer, 0);
  for (let h = 0; h < kvHeads; h++) {
    const length = lengthOf(h);
    const indices = kept[h]!;
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      if (!Number.isInteger(index) || index < 0 || index >= length) {
        throw new ShapeError(`compact: index ${index} of head ${h} is outside [0, ${length}).`);
      }
      if (i > 0 && index <= indices[i - 1]!) {
        throw new ShapeError(`compact: kept indices of head ${h} must be strictly ascending.`);
      }
    }
  }
}

export function checkAttend(geometry: CacheGeometry, layer: number, queries: Float32Array, out: Float32Array): void {
  const { queryHeads, headDim } = geometry;
  if (queries.length !== queryHeads * headDim || out.length !== queryHeads * headDim) {
    throw new ShapeError(`attend: queries and out must hold ${queryHeads} x ${headDim} floats.`);
  }
  checkHead(geometry, layer, 0);
  checkFinite('attend: queries', queries);
}
