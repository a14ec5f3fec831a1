import { ShapeError } from '../errors.js';
import type { KvStore } from '../store.js';

/** One head's K and V rows `[n][headDim]`, e.g. read back from an f32 store. */
export interface HeadKv {
  /** Keys `[n][headDim]`. */
  readonly keys: Float32Array;
  /** Values `[n][headDim]`. */
  readonly values: Float32Array;
}

/** Every KV head's rows of `layer` as `store` holds them (read back: copies). */
export async function readHeadKv(store: KvStore, layer: number): Promise<HeadKv[]> {
  const heads: HeadKv[] = [];
  for (let head = 0; head < store.geometry.kvHeads; head++) heads.push({ keys: await store.keys(layer, head), values: await store.values(layer, head) });
  return heads;
}

/**
 * Writes into an empty layer of `store` only the `kept[head]` rows (ascending) of each head's `rows`,
 * so that a quantized pool encodes each block once, over exactly the rows it keeps. Appending all
 * rows and then compacting would re-encode every block after the first eviction from already rounded
 * rows (up to `s_old / 2 + s_new / 2` per element). Append takes every head of a layer per row, so
 * each head's kept rows go first and zero rows fill it to `rows` = the longest head's count rounded up
 * to whole blocks; a compaction then keeps each head's first `kept[head].length` rows: its partly
 * filled last block is encoded over its own rows (scales within an ulp of encoding them directly; no
 * f32 residual), so the store holds whole blocks per head. Each head's rows carry their own positions
 * (`kept[head]`, the token indices), so `positions()` and decode-time eviction see the right tokens.
 *
 * `windowRows` > 0 (a plan's `windowRows`, `fullPrecisionWindow`): every head's last `windowRows` kept
 * entries (the protected window, the same tokens in every head) are appended after the others, so an
 * int8/int4 head holds them in f32, in its residual block, until decoding fills that block.
 */
export function storeKeptRows(store: KvStore, layer: number, rows: readonly HeadKv[], kept: readonly Int32Array[], blockSize: number, windowRows = 0): void {
  const { kvHeads, headDim: d } = store.geometry;
  if (rows.length !== kvHeads || kept.length !== kvHeads) {
    throw new ShapeError(`storeKeptRows: give rows and kept indices for each of the ${kvHeads} KV heads; got ${rows.length} and ${kept.length}.`);
  }
  if (windowRows > 0) {
    storeBesideWindow(store, layer, rows, kept, blockSize, windowRows);
    return;
  }
  let longest = 0;
  for (let h = 1; h < kvHeads; h++) if (kept[h]!.length > kept[longest]!.length) longest = h;
  const count = Math.ceil(kept[longest]!.length / blockSize) * blockSize;
  if (count === 0) return;
  const { keys, values } = interleave(rows, kept, count, d);
  // filler rows take positions after the head's last kept token; compaction drops them
  const positions = new Int32Array(count * kvHeads);
  for (let h = 0; h < kvHeads; h++) {
    const own = kept[h]!;
    const after = own.length > 0 ? own[own.length - 1]! + 1 : 0;
    for (let r = 0; r < count; r++) positions[r * kvHeads + h] = r < own.length ? own[r]! : after + r - own.length;
  }
  store.append(layer, keys, values, positions);
  if (kept.some((k) => k.length < count)) store.compact(layer, kept.map((k) => Int32Array.from({ length: k.length }, (_, r) => r)));
}

/** The entries besides the window as {@link storeKeptRows} stores any, then the window's rows appended to every head. */
function storeBesideWindow(store: KvStore, layer: number, rows: readonly HeadKv[], kept: readonly Int32Array[], blockSize: number, windowRows: number): void {
  const { kvHeads, headDim: d } = store.geometry;
  const window = kept[0]!.subarray(Math.max(0, kept[0]!.length - windowRows));
  kept.forEach((indices, h) => {
    const tail = indices.subarray(Math.max(0, indices.length - windowRows));
    if (tail.length !== windowRows || tail.some((t, i) => t !== window[i])) {
      throw new ShapeError(`storeKeptRows: head ${h} of layer ${layer} does not end with the ${windowRows} window entries every head keeps.`);
    }
  });
  storeKeptRows(store, layer, rows, kept.map((indices) => indices.subarray(0, indices.length - windowRows)), blockSize);
  const { keys, values } = interleave(rows, kept.map(() => window), windowRows, d);
  const positions = Int32Array.from({ length: windowRows * kvHeads }, (_, i) => window[Math.floor(i / kvHeads)]!);
  store.append(layer, keys, values, positions);
}

/** K and V rows `[count][kvHeads][headDim]` as append takes them: head `h`'s row `r` is its token `tokens[h][r]` (zeros past its list). */
function interleave(rows: readonly HeadKv[], tokens: readonly ArrayLike<number>[], count: number, d: number): HeadKv {
  const kvHeads = rows.length;
  const keys = new Float32Array(count * kvHeads * d);
  const values = new Float32Array(count * kvHeads * d);
  tokens.forEach((list, h) => {
    for (let r = 0; r < list.length; r++) {
      const t = list[r]!;
      keys.set(rows[h]!.keys.subarray(t * d, (t + 1) * d), (r * kvHeads + h) * d);
      values.set(rows[h]!.values.subarray(t * d, (t + 1) * d), (r * kvHeads + h) * d);
    }
  });
  return { keys, values };
}
