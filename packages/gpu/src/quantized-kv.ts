import type { Dispatcher } from './dispatcher.js';
import type { GpuKvFormat, GpuKvPool, HeadPages } from './kv-pool.js';

// Appends, compaction and reads of int8 / int4 pools, step for step as the WASM pool runs them
// (allocator-wasm append.cpp, compact.cpp): rows of a head's partly filled last block wait in f32 in a
// residual slot, and the block is encoded (kv-encode) when it fills; a partly filled encoded block
// (what compaction leaves) is first decoded into a residual slot when appended to; compaction
// re-encodes every destination block from the first one whose rows change, over the rows it keeps,
// and drops the head's residual. The block's marker (kv-int8.wgsl) says where its rows are.

/** A row a scatter dispatch skips. */
const SKIP = 0xffffffff;

const blocksFor = (length: number, blockSize: number): number => Math.ceil(length / blockSize);

/** The kernels of the pool's quantized format. */
export function quantizedKernels(format: GpuKvFormat): { encode: 'encodeBlocksInt8' | 'encodeBlocksInt4'; read: 'readRowsInt8' | 'readRowsInt4' } {
  return format === 'int8' ? { encode: 'encodeBlocksInt8', read: 'readRowsInt8' } : { encode: 'encodeBlocksInt4', read: 'readRowsInt4' };
}

/**
 * Residual slots an append of `count` rows to each of `heads` may take at most (the slots it frees
 * come back only after it, so that no slot is written while a block still encodes from it).
 */
export function residualsNeeded(heads: ReadonlyMap<HeadPages, number>, blockSize: number): number {
  let needed = 0;
  for (const [pages, count] of heads) {
    const length = pages.positions.length;
    const end = length + count;
    if (end % blockSize === 0) continue; // ends on a block boundary: no residual
    const continues = length % blockSize !== 0 && pages.residual !== undefined && Math.floor(length / blockSize) === Math.floor(end / blockSize);
    if (!continues) needed++;
  }
  return needed;
}

/** Encodes reading `sources` (the first element of each stored row) as f32 rows `[rows][headDim]` into `keys` / `values`. */
function encodeReadRows(d: Dispatcher, pool: GpuKvPool, layer: number, sources: Uint32Array, keys: GPUBuffer, values: GPUBuffer): void {
  if (sources.length === 0) return;
  const { headDim } = pool.shape;
  const storage = pool.layers[layer]!;
  d.run(
    quantizedKernels(pool.kvFormat).read,
    { headDim, blockSize: pool.blockSize, rows: sources.length },
    [storage.keys, storage.values, d.temp(sources.byteLength, GPUBufferUsage.STORAGE, sources), keys, values, null, storage.residualKeys, storage.residualValues],
    { threads: sources.length * headDim },
  );
}

/** Encodes the blocks of `jobs` (`[block, first source row, rows]` each) from f32 rows of `keys` / `values`. */
function encodeBlocks(d: Dispatcher, pool: GpuKvPool, layer: number, jobs: number[], keys: GPUBuffer, values: GPUBuffer): void {
  if (jobs.length === 0) return;
  const storage = pool.layers[layer]!;
  const table = Uint32Array.from(jobs);
  d.run(
    quantizedKernels(pool.kvFormat).encode,
    { headDim: pool.shape.headDim, blockSize: pool.blockSize, jobs: jobs.length / 3 },
    [storage.keys, storage.values, d.temp(table.byteLength, GPUBufferUsage.STORAGE, table), keys, values],
    { groups: jobs.length / 3 },
  );
}

/** f32 rows `[rows][headDim]` of K and of V, read back, through `keyAt` / `valueAt`. */
export async function readQuantizedRows(pool: GpuKvPool, layer: number, pages: HeadPages): Promise<{ keys: Float32Array; values: Float32Array }> {
  const { headDim } = pool.shape;
  const B = pool.blockSize;
  const rows = pages.positions.length;
  const sources = Uint32Array.from({ length: rows }, (_, r) => (pages.blocks[Math.floor(r / B)]! * B + (r % B)) * headDim);
  const d = pool.dispatcher;
  const bytes = rows * headDim * 4;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const [keys, values] = [d.temp(bytes, usage), d.temp(bytes, usage)];
  encodeReadRows(d, pool, layer, sources, keys, values);
  const [k, v] = await d.readStaged([d.stage(keys, bytes), d.stage(values, bytes)]);
  return { keys: new Float32Array(k!), values: new Float32Array(v!) };
}

/**
 * Encodes an append to an int8 / int4 pool: row `i` of `keys` / `values` (f32 `[rows][headDim]` on the
 * GPU) goes to `heads[i]` (a head may repeat: its rows in order) at `positions[i]`. Blocks and residual
 * slots must be reserved (`pool.reserve`). Updates the heads' bookkeeping.
 */
export function encodeQuantizedAppend(pool: GpuKvPool, layer: number, heads: readonly HeadPages[], keys: GPUBuffer, values: GPUBuffer, positions: ArrayLike<number>): void {
  const B = pool.blockSize;
  const { headDim } = pool.shape;
  const d = pool.dispatcher;
  const storage = pool.layers[layer]!;
  const counts = new Map<HeadPages, number>();
  for (const pages of heads) counts.set(pages, (counts.get(pages) ?? 0) + 1);

  // where each touched block's rows are gathered before it is encoded (or where they stay: the residual)
  interface Target { residual: boolean; row: number } // first row of the block in the residual or staging buffers
  const targets = new Map<HeadPages, { first: number; blocks: Target[] }>();
  const decodeSources: number[] = []; // rows of partly filled encoded blocks, decoded first
  const decodeCopies: [from: number, residual: boolean, to: number, rows: number][] = [];
  const markers: [block: number, marker: number][] = [];
  const residualJobs: number[] = [];
  const stagingJobs: number[] = [];
  const freed: number[] = [];
  let stagingRows = 0;
  for (const [pages, count] of counts) {
    const length = pages.positions.length;
    const end = length + count;
    const first = Math.floor(length / B);
    const residualBefore = pages.residual;
    const blocks: Target[] = [];
    for (let b = first; b < blocksFor(end, B); b++) {
      const existing = b === first && length % B !== 0 ? length % B : 0; // rows the block holds already
      if (b >= pages.blocks.length) pages.blocks.push(pool.take(layer));
      const block = pages.blocks[b]!;
      const fills = (b + 1) * B <= end;
      let target: Target;
      if (existing > 0 && residualBefore !== undefined) {
        // the head's residual block: its rows are in its slot already
        target = { residual: true, row: residualBefore * B };
        if (fills) {
          residualJobs.push(block, residualBefore * B, B);
          freed.push(residualBefore);
          pages.residual = undefined;
        }
      } else if (fills) {
        target = { residual: false, row: stagingRows };
        stagingRows += B;
        stagingJobs.push(block, target.row, B);
      } else {
        const slot = pool.takeResidual(layer);
        target = { residual: true, row: slot * B };
        markers.push([block, slot]);
        pages.residual = slot;
      }
      if (existing > 0 && residualBefore === undefined) {
        // a partly filled encoded block (compaction left it): its rows are decoded into the target first
        decodeCopies.push([decodeSources.length, target.residual, target.row, existing]);
        for (let slot = 0; slot < existing; slot++) decodeSources.push((block * B + slot) * headDim);
      }
      blocks.push(target);
    }
    targets.set(pages, { first, blocks });
  }

  // the rows' destinations: the residual slots, or staging rows for blocks that fill
  const rows = heads.length;
  const toResidual = new Uint32Array(rows).fill(SKIP);
  const toStaging = new Uint32Array(rows).fill(SKIP);
  heads.forEach((pages, i) => {
    const length = pages.positions.length;
    const { first, blocks } = targets.get(pages)!;
    const target = blocks[Math.floor(length / B) - first]!;
    (target.residual ? toResidual : toStaging)[i] = target.row + (length % B);
    pages.positions.push(positions[i]!);
  });

  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const rowBytes = headDim * 4;
  const staging = stagingRows > 0 ? [d.temp(stagingRows * rowBytes, usage), d.temp(stagingRows * rowBytes, usage)] as const : null;
  if (decodeSources.length > 0) {
    const decoded = [d.temp(decodeSources.length * rowBytes, usage), d.temp(decodeSources.length * rowBytes, usage)] as const;
    encodeReadRows(d, pool, layer, Uint32Array.from(decodeSources), decoded[0], decoded[1]);
    for (const [from, residual, to, count] of decodeCopies) {
      const into = residual ? [storage.residualKeys!, storage.residualValues!] : staging!;
      d.copy(decoded[0], from * rowBytes, into[0], to * rowBytes, count * rowBytes);
      d.copy(decoded[1], from * rowBytes, into[1], to * rowBytes, count * rowBytes);
    }
  }
  if (markers.length > 0) {
    // after the decode above read those blocks as encoded: from here on they read their residual rows
    const words = Uint32Array.from(markers, ([, marker]) => marker);
    const source = d.temp(words.byteLength, GPUBufferUsage.COPY_SRC, words);
    markers.forEach(([block], i) => d.copy(source, i * 4, storage.keys, block * pool.keyBlockBytes, 4));
  }
  if (toResidual.some((slot) => slot !== SKIP)) {
    const slots = d.temp(rows * 4, GPUBufferUsage.STORAGE, toResidual);
    d.run('scatterRows', { headDim, rows }, [keys, values, slots, storage.residualKeys, storage.residualValues], { threads: rows * headDim });
  }
  if (staging) {
    d.run('scatterRows', { headDim, rows }, [keys, values, d.temp(rows * 4, GPUBufferUsage.STORAGE, toStaging), staging[0], staging[1]], { threads: rows * headDim });
    encodeBlocks(d, pool, layer, stagingJobs, staging[0], staging[1]);
  }
  encodeBlocks(d, pool, layer, residualJobs, storage.residualKeys!, storage.residualValues!);
  // only now: a slot taken above must not be one a block still encodes from
  pool.releaseResiduals(layer, freed);
}

/**
 * Encodes compacting (layer) of an int8 / int4 pool to the rows `kept[h]` of each head (ascending),
 * as compact.cpp does: nothing moves when the kept rows are a prefix (the rows past it are dropped,
 * and the residual with the blocks released); else every block from the first whose rows change is
 * re-encoded over the rows it keeps (read as f32 first, residual rows included), and the residual goes.
 * Updates the heads' bookkeeping; returns the blocks to release.
 */
export function encodeQuantizedCompact(pool: GpuKvPool, layer: number, heads: readonly HeadPages[], kept: readonly Int32Array[]): number[] {
  const B = pool.blockSize;
  const { headDim } = pool.shape;
  const released: number[] = [];
  const freed: number[] = [];
  const sources: number[] = [];
  const jobs: number[] = [];
  kept.forEach((indices, h) => {
    const pages = heads[h]!;
    const count = indices.length;
    if (count === pages.positions.length) return; // everything kept
    let first = 0;
    while (first < count && indices[first] === first) first++;
    const keepBlocks = blocksFor(count, B);
    if (first < count) {
      for (let b = Math.floor(first / B); b < keepBlocks; b++) {
        const rows = Math.min(B, count - b * B);
        jobs.push(pages.blocks[b]!, sources.length, rows);
        for (let slot = 0; slot < rows; slot++) {
          const source = indices[b * B + slot]!;
          sources.push((pages.blocks[Math.floor(source / B)]! * B + (source % B)) * headDim);
        }
      }
    }
    // with moves, the residual block (if kept) was re-encoded above; without, it goes with its block
    if (pages.residual !== undefined && (first < count || pages.blocks.length > keepBlocks)) {
      freed.push(pages.residual);
      pages.residual = undefined;
    }
    pages.positions = Array.from(indices, (index) => pages.positions[index]!);
    released.push(...pages.blocks.splice(keepBlocks));
  });
  if (jobs.length > 0) {
    const d = pool.dispatcher;
    const bytes = sources.length * headDim * 4;
    const staging = [d.temp(bytes, GPUBufferUsage.STORAGE), d.temp(bytes, GPUBufferUsage.STORAGE)] as const;
    encodeReadRows(d, pool, layer, Uint32Array.from(sources), staging[0], staging[1]);
    encodeBlocks(d, pool, layer, jobs, staging[0], staging[1]);
  }
  pool.releaseResiduals(layer, freed);
  return released;
}
