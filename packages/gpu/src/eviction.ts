import { largestStorageBuffer } from './device.js';
import type { StagedRead } from './dispatcher.js';
import { GpuError, mib } from './errors.js';
import { type GpuKvPool, type HeadPages, type QueryRing, kvReaders } from './kv-pool.js';
import { MAX_COUNT_HEADS, encodeAdaptiveCounts } from './scores.js';
import { encodeSelectTopK } from './selection.js';

/**
 * How {@link GpuPagedCache.planEviction} scores and splits one layer (the core reference's names:
 * packages/core/src/scorers, packages/core/src/allocation).
 */
export interface EvictionOptions {
  /**
   * `snapkv`: the mean over the last `window` recorded query rows of each row's attention, reduced
   * over the GQA group, then pooled along the head; `h2o`: the attention summed over every recorded
   * row, reduced over the group, not pooled.
   */
  readonly scorer: 'snapkv' | 'h2o';
  /** Recorded query rows SnapKV scores with (the last `window`; all of them for H2O). */
  readonly window: number;
  /** Trailing entries of each head kept whatever their score: `min(protectedCount, length)`. */
  readonly protectedCount: number;
  /** B': selectable entries kept per KV head on average (protected tails not included). */
  readonly selectable: number;
  /** `adaptive` (Ada-KV: the layer's flattened top `kvHeads x B'`, then the safeguard) or `uniform` (B' per head). */
  readonly allocation: 'adaptive' | 'uniform';
  /** Ada-KV's safeguard share (default 0.2): `cap_h = roundHalfEven(c_h (1 - alpha) + floor(B' alpha))`. */
  readonly alpha?: number;
  /** SnapKV's pooling kernel (default 7; 1 or less: no pooling). */
  readonly kernelSize?: number;
  /** SnapKV's pooling along the scores: max (default) or average. */
  readonly pooling?: 'max' | 'avg';
  /** How a GQA group's query heads combine (default `mean`). */
  readonly groupReduce?: 'mean' | 'max';
}

/** Rounds to the nearest integer, ties to even (`torch.round`), as the core reference does. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

interface Resolved extends Required<EvictionOptions> {}

function resolve(o: EvictionOptions): Resolved {
  const r: Resolved = { alpha: 0.2, kernelSize: 7, pooling: 'max', groupReduce: 'mean', ...o };
  const wholeAtLeast = (name: keyof Resolved, least: number) => {
    const value = r[name] as number;
    if (!Number.isInteger(value) || value < least) throw new GpuError('INVALID_ARGUMENT', `planEviction: ${name} must be an integer >= ${least}, got ${value}.`);
  };
  if (r.scorer !== 'snapkv' && r.scorer !== 'h2o') throw new GpuError('INVALID_ARGUMENT', `planEviction: scorer must be 'snapkv' or 'h2o', got ${String(r.scorer)}.`);
  if (r.allocation !== 'adaptive' && r.allocation !== 'uniform') throw new GpuError('INVALID_ARGUMENT', `planEviction: allocation must be 'adaptive' or 'uniform', got ${String(r.allocation)}.`);
  if (r.pooling !== 'max' && r.pooling !== 'avg') throw new GpuError('INVALID_ARGUMENT', `planEviction: pooling must be 'max' or 'avg', got ${String(r.pooling)}.`);
  if (r.groupReduce !== 'mean' && r.groupReduce !== 'max') throw new GpuError('INVALID_ARGUMENT', `planEviction: groupReduce must be 'mean' or 'max', got ${String(r.groupReduce)}.`);
  wholeAtLeast('window', 1);
  wholeAtLeast('protectedCount', 0);
  wholeAtLeast('selectable', 0);
  wholeAtLeast('kernelSize', 0);
  if (!(r.alpha >= 0 && r.alpha <= 1)) throw new GpuError('INVALID_ARGUMENT', `planEviction: alpha must be in [0, 1], got ${r.alpha}.`);
  return r;
}

/** One layer of one sequence, as the eviction planner reads it. */
export interface EvictionSource {
  readonly pool: GpuKvPool;
  readonly heads: readonly HeadPages[];
  readonly ring: QueryRing | null;
}

/** The layer's extents: per head its length, protected tail and selectable rows (ragged). */
function extents(source: EvictionSource, o: Resolved) {
  const lengths = source.heads.map((h) => h.positions.length);
  const selectable = lengths.map((length) => length - Math.min(o.protectedCount, length));
  const offsets = new Uint32Array(lengths.length + 1);
  selectable.forEach((s, h) => (offsets[h + 1] = offsets[h]! + s));
  return { lengths, selectable, offsets, total: offsets[lengths.length]!, stride: Math.max(1, ...selectable) };
}

/**
 * Encodes the scores of every head's selectable rows into a `[kvHeads][stride]` buffer (padding: the
 * lowest float), from the layer's ring of recent queries and its keys read in place through the
 * block tables. Returns the buffers the plan continues from.
 */
function encodeScores(source: EvictionSource, layer: number, o: Resolved, e: ReturnType<typeof extents>) {
  const { pool, heads, ring } = source;
  const d = pool.dispatcher;
  const { queryHeads, kvHeads, headDim } = pool.shape;
  const groupSize = queryHeads / kvHeads;
  if (!ring) throw new GpuError('INVALID_ARGUMENT', 'planEviction: this sequence records no queries; call recordQueries(rows) (and seedQueries after prefill) first.');
  const rows = o.scorer === 'snapkv' ? Math.min(o.window, ring.count) : ring.count;
  const oldest = ring.count < ring.rows ? 0 : ring.next;
  const firstSlot = (oldest + ring.count - rows) % ring.rows;
  const probabilityBytes = e.total * groupSize * rows * 4;
  if (probabilityBytes > largestStorageBuffer(pool.gpu)) {
    throw new GpuError('INVALID_ARGUMENT', `planEviction: the attention of ${rows} query rows over ${e.total} selectable rows takes ${mib(probabilityBytes)}, more than one storage binding; score with fewer rows (window).`);
  }
  const usage = GPUBufferUsage.STORAGE;
  const probabilities = d.temp(probabilityBytes, usage);
  const status = d.temp(4, usage | GPUBufferUsage.COPY_SRC, new Uint32Array(1));
  // the integer tables in one binding, offsets first (the reduce reads those)
  const maxLength = Math.max(1, ...e.lengths);
  const maxBlocks = Math.max(1, ...heads.map((h) => h.blocks.length));
  const meta = new Uint32Array(2 * kvHeads + 1 + rows + kvHeads * maxBlocks + kvHeads * maxLength);
  meta.set(e.offsets);
  meta.set(e.lengths, kvHeads + 1);
  const signed = new Int32Array(meta.buffer);
  for (let r = 0; r < rows; r++) signed[2 * kvHeads + 1 + r] = ring.positions[(firstSlot + r) % ring.rows]!;
  const tablesAt = 2 * kvHeads + 1 + rows;
  const positionsAt = tablesAt + kvHeads * maxBlocks;
  heads.forEach((h, i) => {
    meta.set(h.blocks, tablesAt + i * maxBlocks);
    signed.set(h.positions, positionsAt + i * maxLength);
  });
  const tables = d.temp(meta.byteLength, usage, meta);
  if (rows > 0 && e.total > 0) {
    const storage = pool.layers[layer]!;
    d.run(
      kvReaders(pool.kvFormat).recent,
      { headDim, queryHeads, groupSize, blockSize: pool.blockSize, maxBlocks, rows, ringRows: ring.rows, firstSlot, maxLength, scale: 1 / Math.sqrt(headDim) },
      [storage.keys, ring.buffer, tables, probabilities, status, ...(pool.quantized ? [null, storage.residualKeys] : [])],
      { x: queryHeads, y: rows },
    );
  }
  const selectableOffsets = tables; // starts with the offsets
  const raw = d.temp(kvHeads * e.stride * 4, usage | GPUBufferUsage.COPY_SRC);
  d.run(
    'recentReduce',
    { groupSize, rows, stride: e.stride, average: o.scorer === 'snapkv' ? 1 : 0, groupMax: o.groupReduce === 'max' ? 1 : 0 },
    [probabilities, selectableOffsets, raw, status],
    { x: Math.ceil(e.stride / 64), y: kvHeads },
  );
  let scores = raw;
  if (o.scorer === 'snapkv') {
    scores = d.temp(kvHeads * e.stride * 4, usage | GPUBufferUsage.COPY_SRC);
    const lengths = Uint32Array.from(e.selectable);
    d.run('pool1d', { heads: kvHeads, length: e.stride, kernelSize: o.kernelSize, average: o.pooling === 'avg' ? 1 : 0 }, [raw, scores, d.temp(lengths.byteLength, usage, lengths)], { threads: kvHeads * e.stride });
  }
  return { d, scores, status, selectableOffsets };
}

function checkLimits(source: EvictionSource): void {
  const { queryHeads } = source.pool.shape;
  if (queryHeads > 65535) throw new GpuError('INVALID_ARGUMENT', `planEviction: at most 65,535 query heads, got ${queryHeads}.`);
  if (source.ring && source.ring.rows > 65535) throw new GpuError('INVALID_ARGUMENT', `planEviction: at most 65,535 recorded rows, got ${source.ring.rows}.`);
}

function nonFinite(status: ArrayBuffer): void {
  if (new Uint32Array(status)[0] !== 0) {
    throw new GpuError('INVALID_NUMBER', 'planEviction: a score is not finite: a recorded query sees a selectable key whose logit is NaN or infinite (the cached keys or the queries hold NaN or an infinity).');
  }
}

/** The scores of each head's selectable rows (`length - min(protectedCount, length)` each), computed on the GPU. */
export async function evictionScores(source: EvictionSource, layer: number, options: EvictionOptions): Promise<Float32Array[]> {
  const o = resolve(options);
  checkLimits(source);
  const e = extents(source, o);
  const { d, scores, status } = encodeScores(source, layer, o, e);
  const [flat, flags] = await d.readStaged([d.stage(scores, source.heads.length * e.stride * 4), d.stage(status, 4)]);
  nonFinite(flags!);
  const all = new Float32Array(flat!);
  return e.selectable.map((s, h) => all.slice(h * e.stride, h * e.stride + s));
}

/**
 * The rows of each head that eviction keeps, ascending: its chosen selectable rows plus its protected
 * tail. Scores, head allocation and per-head top-k run on the GPU; only the kept indices (and the caps)
 * come back. Keeps everything when the layer's selectable rows fit `kvHeads x selectable`.
 */
export async function planEviction(source: EvictionSource, layer: number, options: EvictionOptions): Promise<Int32Array[]> {
  const o = resolve(options);
  checkLimits(source);
  const e = extents(source, o);
  const kvHeads = source.heads.length;
  if (e.total <= kvHeads * o.selectable) return e.lengths.map((length) => Int32Array.from({ length }, (_, i) => i)); // the budget covers every entry
  if (o.allocation === 'adaptive' && kvHeads > MAX_COUNT_HEADS) {
    throw new GpuError('INVALID_ARGUMENT', `planEviction: adaptive allocation ranks at most ${MAX_COUNT_HEADS} KV heads on the GPU, got ${kvHeads}.`);
  }
  const { d, scores, status, selectableOffsets } = encodeScores(source, layer, o, e);
  const usage = GPUBufferUsage.STORAGE;
  let caps: GPUBuffer;
  if (o.allocation === 'adaptive') {
    const counts = d.temp(kvHeads * 4, usage);
    encodeAdaptiveCounts(d, scores, counts, { heads: kvHeads, length: e.stride, k: kvHeads * o.selectable });
    // the safeguard for every possible count, in f64 as the reference rounds it
    const floor = Math.floor(o.selectable * o.alpha);
    const table = Uint32Array.from({ length: e.stride + 1 }, (_, c) => Math.min(0xffffffff, Math.max(0, roundHalfEven(c * (1 - o.alpha) + floor))));
    caps = d.temp(kvHeads * 4, usage | GPUBufferUsage.COPY_SRC);
    d.run('adaptiveCaps', { heads: kvHeads, tableLength: table.length }, [counts, d.temp(table.byteLength, usage, table), selectableOffsets, caps], { threads: kvHeads });
  } else {
    const uniform = Uint32Array.from(e.selectable, (s) => Math.min(s, o.selectable));
    caps = d.temp(uniform.byteLength, usage | GPUBufferUsage.COPY_SRC, uniform);
  }
  const padded = Uint32Array.from({ length: kvHeads + 1 }, (_, h) => h * e.stride);
  const kept = d.temp(kvHeads * e.stride * 4, usage | GPUBufferUsage.COPY_SRC);
  encodeSelectTopK(d, scores, d.temp(padded.byteLength, usage, padded), caps, kept, kvHeads);
  const staged: StagedRead[] = [d.stage(kept, kvHeads * e.stride * 4), d.stage(caps, kvHeads * 4), d.stage(status, 4)];
  const [indices, capBytes, flags] = await d.readStaged(staged);
  nonFinite(flags!);
  const chosen = new Int32Array(indices!);
  const counts = new Uint32Array(capBytes!);
  return e.lengths.map((length, h) => {
    const count = counts[h]!;
    const protectedCount = length - e.selectable[h]!;
    const out = new Int32Array(count + protectedCount);
    out.set(chosen.subarray(h * e.stride, h * e.stride + count));
    for (let i = 0; i < protectedCount; i++) out[count + i] = e.selectable[h]! + i;
    return out;
  });
}
