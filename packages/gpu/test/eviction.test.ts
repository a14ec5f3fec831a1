import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuKvPool, GpuLlamaDecoder, GpuPagedCache, type EvictionOptions, type LlamaShape } from '../src/index.js';
import { random, randomLlama, testGpu } from './helpers.js';

const { gpu } = await testGpu();

// ---------------------------------------------------------------------------------------------------
// The CPU twin: the core reference's planning, copied faithfully (packages/core/src/scorers/
// attention-probabilities.ts, snapkv.ts, h2o.ts, group-reduce.ts, pooling.ts; allocation/adaptive.ts,
// round-half-even.ts, uniform.ts, top-k.ts, plan-layer.ts). f32 storage where the reference uses it.
// ---------------------------------------------------------------------------------------------------

interface TwinHead {
  keys: Float32Array; // [length][headDim]
  positions: Int32Array;
  queries: Float32Array; // [rows][groupSize][headDim]
  queryPositions: Int32Array;
  headDim: number;
  groupSize: number;
  protectedCount: number;
}

function attentionProbabilities(head: TwinHead, rows?: number): Float32Array {
  const { keys, positions, queries, queryPositions, headDim: d, groupSize: g } = head;
  const length = positions.length;
  const available = queryPositions.length;
  const used = Math.min(rows ?? available, available);
  const first = available - used;
  const scale = 1 / Math.sqrt(d);
  const out = new Float32Array(used * g * length);
  for (let r = 0; r < used; r++) {
    const queryPosition = queryPositions[first + r]!;
    for (let m = 0; m < g; m++) {
      const q = ((first + r) * g + m) * d;
      const row = out.subarray((r * g + m) * length, (r * g + m + 1) * length);
      let max = -Infinity;
      for (let t = 0; t < length; t++) {
        if (positions[t]! > queryPosition) {
          row[t] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let i = 0; i < d; i++) dot += queries[q + i]! * keys[t * d + i]!;
        row[t] = dot * scale;
        if (row[t]! > max) max = row[t]!;
      }
      let sum = 0;
      for (let t = 0; t < length; t++) {
        const e = row[t] === -Infinity ? 0 : Math.exp(row[t]! - max);
        row[t] = e;
        sum += e;
      }
      const inverse = sum > 0 ? 1 / sum : 0;
      for (let t = 0; t < length; t++) row[t] = row[t]! * inverse;
    }
  }
  return out;
}

function reduceGroup(perQueryHead: Float32Array, groupSize: number, length: number, mode: 'mean' | 'max'): Float32Array {
  const out = new Float32Array(length);
  for (let t = 0; t < length; t++) {
    let acc = mode === 'max' ? -Infinity : 0;
    for (let m = 0; m < groupSize; m++) {
      const value = perQueryHead[m * length + t]!;
      acc = mode === 'max' ? Math.max(acc, value) : acc + value;
    }
    out[t] = mode === 'max' ? acc : acc / groupSize;
  }
  return out;
}

function pool1d(scores: Float32Array, kernelSize: number, mode: 'max' | 'avg'): Float32Array {
  if (kernelSize <= 1) return scores.slice();
  const half = Math.floor(kernelSize / 2);
  const out = new Float32Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const from = Math.max(0, i - half);
    const to = Math.min(scores.length - 1, i + half);
    let acc = mode === 'max' ? -Infinity : 0;
    for (let j = from; j <= to; j++) acc = mode === 'max' ? Math.max(acc, scores[j]!) : acc + scores[j]!;
    out[i] = mode === 'max' ? acc : acc / kernelSize;
  }
  return out;
}

type Options = Required<EvictionOptions>;

function snapkvScore(head: TwinHead, o: Options): Float32Array {
  const length = head.positions.length;
  const selectable = length - head.protectedCount;
  const rows = Math.min(o.window, head.queryPositions.length);
  const probabilities = attentionProbabilities(head, rows);
  const perQueryHead = new Float32Array(head.groupSize * selectable);
  for (let r = 0; r < rows; r++) {
    for (let m = 0; m < head.groupSize; m++) {
      const row = (r * head.groupSize + m) * length;
      for (let t = 0; t < selectable; t++) perQueryHead[m * selectable + t]! += probabilities[row + t]! / rows;
    }
  }
  return pool1d(reduceGroup(perQueryHead, head.groupSize, selectable, o.groupReduce), o.kernelSize, o.pooling);
}

function h2oScore(head: TwinHead, o: Options): Float32Array {
  const length = head.positions.length;
  const selectable = length - head.protectedCount;
  const rows = head.queryPositions.length;
  const probabilities = attentionProbabilities(head, rows);
  const perQueryHead = new Float32Array(head.groupSize * selectable);
  for (let r = 0; r < rows; r++) {
    for (let m = 0; m < head.groupSize; m++) {
      const row = (r * head.groupSize + m) * length;
      for (let t = 0; t < selectable; t++) perQueryHead[m * selectable + t]! += probabilities[row + t]!;
    }
  }
  return reduceGroup(perQueryHead, head.groupSize, selectable, o.groupReduce);
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function outranks(scoreA: number, headA: number, indexA: number, scoreB: number, headB: number, indexB: number): boolean {
  if (scoreA !== scoreB) return scoreA > scoreB;
  if (headA !== headB) return headA < headB;
  return indexA < indexB;
}

function topKIndices(scores: Float32Array, k: number): Int32Array {
  const count = Math.max(0, Math.min(k, scores.length));
  if (count === scores.length) return Int32Array.from({ length: count }, (_, i) => i);
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => (outranks(scores[a]!, 0, a, scores[b]!, 0, b) ? -1 : 1));
  return order.subarray(0, count).sort();
}

function countTopAcrossHeads(scores: readonly Float32Array[], k: number): Int32Array {
  const entries: { score: number; head: number; index: number }[] = [];
  scores.forEach((row, head) => row.forEach((score, index) => entries.push({ score, head, index })));
  entries.sort((a, b) => (outranks(a.score, a.head, a.index, b.score, b.head, b.index) ? -1 : 1));
  const counts = new Int32Array(scores.length);
  for (const entry of entries.slice(0, Math.max(0, k))) counts[entry.head]! += 1;
  return counts;
}

function adaptiveAllocation(scores: readonly Float32Array[], selectable: number, alpha: number): Int32Array {
  const entries = scores.reduce((sum, row) => sum + row.length, 0);
  if (entries <= scores.length * selectable) return Int32Array.from(scores, (row) => row.length);
  const counts = countTopAcrossHeads(scores, scores.length * selectable);
  const floor = Math.floor(selectable * alpha);
  return Int32Array.from(scores, (row, head) => Math.min(row.length, Math.max(0, roundHalfEven(counts[head]! * (1 - alpha) + floor))));
}

/** planLayer: keep-all when the budget covers the layer, else scores, allocation, top-k and the protected tails. */
function twinPlan(heads: TwinHead[], o: Options): { kept: Int32Array[]; scores: Float32Array[] | null; caps: Int32Array | null } {
  const selectableTotal = heads.reduce((sum, h) => sum + h.positions.length - h.protectedCount, 0);
  if (selectableTotal <= heads.length * o.selectable) return { kept: heads.map((h) => Int32Array.from({ length: h.positions.length }, (_, i) => i)), scores: null, caps: null };
  const scores = heads.map((head) => (o.scorer === 'snapkv' ? snapkvScore(head, o) : h2oScore(head, o)));
  const caps = o.allocation === 'adaptive' ? adaptiveAllocation(scores, o.selectable, o.alpha) : Int32Array.from(scores, (row) => Math.min(row.length, Math.max(0, o.selectable)));
  const kept = heads.map((head, h) => {
    const chosen = topKIndices(scores[h]!, caps[h]!);
    const length = head.positions.length;
    const out = new Int32Array(chosen.length + head.protectedCount);
    out.set(chosen);
    for (let i = 0; i < head.protectedCount; i++) out[chosen.length + i] = length - head.protectedCount + i;
    return out;
  });
  return { kept, scores, caps };
}

/**
 * Whether a cut of the twin's plan sits on a near-tie: two different score values within 1e-4
 * relative on either side of it (the GPU's f32 scores may order those differently). Exact ties are
 * fine: both sides break them by index (max-pooling plateaus are exact ties on both).
 */
function nearTieAtCut(sortedDescending: number[], kept: number): boolean {
  if (kept <= 0 || kept >= sortedDescending.length) return false;
  const [last, next] = [sortedDescending[kept - 1]!, sortedDescending[kept]!];
  return last !== next && last - next <= 1e-4 * Math.abs(last);
}

function planHasNearTie(plan: ReturnType<typeof twinPlan>, o: Options): boolean {
  if (!plan.scores) return false;
  const descending = (values: Iterable<number>) => [...values].sort((a, b) => b - a);
  if (o.allocation === 'adaptive' && nearTieAtCut(descending(plan.scores.flatMap((row) => [...row])), plan.scores.length * o.selectable)) return true;
  return plan.scores.some((row, h) => nearTieAtCut(descending(row), plan.caps![h]!));
}

// ---------------------------------------------------------------------------------------------------

/** A sequence on the GPU and what the twin needs of it: the recorded query rows of each layer. */
class Scenario {
  readonly cache: GpuPagedCache;
  readonly rings: { rows: Float32Array[]; positions: number[] }[];
  readonly rnd: () => number;
  next = 0;

  constructor(readonly shape: { layers: number; queryHeads: number; kvHeads: number; headDim: number; blockSize: number; kvFormat: 'f32' | 'f16' }, readonly ringRows: number, seed: number, pool?: GpuKvPool) {
    this.cache = pool ? GpuPagedCache.inPool(pool) : new GpuPagedCache(gpu, shape);
    this.cache.recordQueries(ringRows);
    this.rings = Array.from({ length: shape.layers }, () => ({ rows: [], positions: [] }));
    this.rnd = random(seed);
  }

  floats(n: number, scale: number): Float32Array {
    return Float32Array.from({ length: n }, () => this.rnd() * scale);
  }

  remember(layer: number, row: Float32Array, position: number): void {
    const ring = this.rings[layer]!;
    ring.rows.push(row);
    ring.positions.push(position);
    if (ring.rows.length > this.ringRows) {
      ring.rows.shift();
      ring.positions.shift();
    }
  }

  /** A prompt of `n` tokens, then its queries seed the rings. */
  prefill(n: number): void {
    const { layers, kvHeads, queryHeads, headDim } = this.shape;
    const positions = Int32Array.from({ length: n }, (_, t) => this.next + t);
    for (let layer = 0; layer < layers; layer++) {
      const keys = this.floats(n * kvHeads * headDim, 2);
      this.cache.append(layer, keys, this.floats(keys.length, 1), positions);
      const queries = this.floats(n * queryHeads * headDim, 2);
      this.cache.seedQueries(layer, queries, positions);
      for (let t = 0; t < n; t++) this.remember(layer, queries.slice(t * queryHeads * headDim, (t + 1) * queryHeads * headDim), positions[t]!);
    }
    this.next += n;
  }

  /** One decode step: one token appended to every layer, then its query attends (alone, or through the batched dispatch). */
  async step(batched: boolean): Promise<void> {
    const { layers, kvHeads, queryHeads, headDim } = this.shape;
    for (let layer = 0; layer < layers; layer++) {
      const row = this.floats(kvHeads * headDim, 2);
      this.cache.append(layer, row, this.floats(row.length, 1), Int32Array.of(this.next));
      const query = this.floats(queryHeads * headDim, 2);
      if (batched) {
        const d = this.cache.dispatcher;
        // a recorded query is copied into the ring: its buffer needs COPY_SRC
        GpuPagedCache.encodeAttendBatch(layer, [this.cache], d.temp(query.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, query), d.temp(query.byteLength, GPUBufferUsage.STORAGE));
        d.submit();
      } else await this.cache.attend(layer, query);
      this.remember(layer, query, this.next);
    }
    this.next++;
  }

  /** Every head of every layer keeps a random subset of its rows (ragged heads). */
  compactRandomly(keepProbability: number): void {
    for (let layer = 0; layer < this.shape.layers; layer++) {
      this.cache.compact(layer, Array.from({ length: this.shape.kvHeads }, (_, h) => Int32Array.from({ length: this.cache.length(layer, h) }, (_, t) => t).filter(() => this.rnd() * 0.5 + 0.5 < keepProbability)));
    }
  }

  /** The twin's view of `layer`: the keys as the GPU stores them (f16 rounding included), the recorded queries. */
  async twinHeads(layer: number, protectedCount: number): Promise<TwinHead[]> {
    const { kvHeads, queryHeads, headDim } = this.shape;
    const g = queryHeads / kvHeads;
    const ring = this.rings[layer]!;
    const heads: TwinHead[] = [];
    for (let h = 0; h < kvHeads; h++) {
      const queries = new Float32Array(ring.rows.length * g * headDim);
      ring.rows.forEach((row, r) => queries.set(row.subarray(h * g * headDim, (h + 1) * g * headDim), r * g * headDim));
      const positions = this.cache.positions(layer, h);
      heads.push({ keys: await this.cache.rows(layer, h, 'keys'), positions, queries, queryPositions: Int32Array.from(ring.positions), headDim, groupSize: g, protectedCount: Math.min(protectedCount, positions.length) });
    }
    return heads;
  }
}

const optionsArbitrary = fc.record({
  scorer: fc.constantFrom('snapkv' as const, 'h2o' as const),
  allocation: fc.constantFrom('adaptive' as const, 'uniform' as const),
  window: fc.integer({ min: 1, max: 14 }),
  protectedCount: fc.integer({ min: 0, max: 12 }),
  selectable: fc.integer({ min: 0, max: 30 }),
  alpha: fc.constantFrom(0, 0.2, 0.5, 1),
  kernelSize: fc.constantFrom(1, 3, 7),
  pooling: fc.constantFrom('max' as const, 'avg' as const),
  groupReduce: fc.constantFrom('mean' as const, 'max' as const),
});

/** Scores within 1e-4 relative of the twin's, and the twin's kept indices exactly (unless a cut is a near-tie). */
async function expectTwinPlan(s: Scenario, layer: number, o: Options): Promise<'equal' | 'near-tie'> {
  const heads = await s.twinHeads(layer, o.protectedCount);
  const twin = twinPlan(heads, o);
  const scores = await s.cache.evictionScores(layer, o);
  const expectedScores = heads.map((head) => (o.scorer === 'snapkv' ? snapkvScore(head, o) : h2oScore(head, o)));
  scores.forEach((row, h) => {
    expect(row.length).toBe(expectedScores[h]!.length);
    row.forEach((value, t) => expect(Math.abs(value - expectedScores[h]![t]!)).toBeLessThanOrEqual(1e-4 * Math.abs(expectedScores[h]![t]!) + 1e-12));
  });
  const plan = await s.cache.planEviction(layer, o);
  if (planHasNearTie(twin, o)) return 'near-tie';
  expect(plan.map((k) => Array.from(k))).toEqual(twin.kept.map((k) => Array.from(k)));
  return 'equal';
}

describe('planEviction: decode-time eviction planned on the GPU', () => {
  it('keeps exactly what the core reference keeps: random ragged heads, GQA, protected tails, snapkv and h2o, adaptive and uniform', async () => {
    const outcomes = { equal: 0, 'near-tie': 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 90 }),
        fc.integer({ min: 0, max: 16 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom('f32' as const, 'f16' as const),
        fc.array(optionsArbitrary, { minLength: 3, maxLength: 3 }),
        fc.integer(),
        async (kvHeads, group, prompt, steps, ringRows, kvFormat, optionSets, seed) => {
          const s = new Scenario({ layers: 2, queryHeads: kvHeads * group, kvHeads, headDim: 8, blockSize: 4, kvFormat }, ringRows, seed);
          s.prefill(prompt);
          for (let step = 0; step < steps; step++) {
            if (step % 5 === 2) s.compactRandomly(0.7);
            await s.step(step % 2 === 1);
          }
          expect(s.cache.recentQueryCount(1)).toBe(Math.min(ringRows, prompt + steps));
          for (const o of optionSets) for (let layer = 0; layer < 2; layer++) outcomes[await expectTwinPlan(s, layer, o)]++;
          s.cache.destroy();
        },
      ),
      { numRuns: 25 },
    );
    // near-ties at a cut are rare with random data; they are only skipped, never hidden in bulk
    expect(outcomes['near-tie']).toBeLessThanOrEqual(0.1 * (outcomes.equal + outcomes['near-tie']));
  }, 300_000);

  it('plans from a ring that wrapped many times, in a shared pool, at a fixed example', async () => {
    const pool = new GpuKvPool(gpu, { layers: 2, queryHeads: 6, kvHeads: 2, headDim: 8, blockSize: 4 });
    const shape = { layers: 2, queryHeads: 6, kvHeads: 2, headDim: 8, blockSize: 4, kvFormat: 'f32' as const };
    const [a, b] = [new Scenario(shape, 5, 1, pool), new Scenario(shape, 8, 2, pool)];
    a.prefill(60);
    b.prefill(3);
    for (let step = 0; step < 23; step++) {
      await a.step(step % 3 === 0);
      await b.step(step % 2 === 0);
      if (step === 11) a.compactRandomly(0.5);
    }
    expect([a.cache.recentQueryCount(0), b.cache.recentQueryCount(1)]).toEqual([5, 8]);
    for (const s of [a, b]) {
      for (let layer = 0; layer < 2; layer++) {
        const read = await s.cache.recentQueries(layer); // the wrapped ring, read back oldest first
        expect(Array.from(read.positions)).toEqual(s.rings[layer]!.positions);
        expect(Array.from(read.queries)).toEqual(s.rings[layer]!.rows.flatMap((row) => Array.from(row)));
      }
    }
    const base: Options = { scorer: 'snapkv', allocation: 'adaptive', window: 4, protectedCount: 6, selectable: 9, alpha: 0.2, kernelSize: 7, pooling: 'max', groupReduce: 'mean' };
    for (const o of [base, { ...base, scorer: 'h2o' as const }, { ...base, allocation: 'uniform' as const, pooling: 'avg' as const, groupReduce: 'max' as const }]) {
      for (const s of [a, b]) for (let layer = 0; layer < 2; layer++) expect(await expectTwinPlan(s, layer, o)).toBe('equal');
    }
    // the plan feeds compaction: the kept rows are what the cache holds after
    const plan = await a.cache.planEviction(1, base);
    const positions = [0, 1].map((h) => a.cache.positions(1, h));
    a.cache.compact(1, plan);
    for (const h of [0, 1]) expect(Array.from(a.cache.positions(1, h))).toEqual(Array.from(plan[h]!, (i) => positions[h]![i]!));
    expect(pool.dispatcher.liveTemporary).toBe(0);
    pool.destroy();
  });

  it('keeps everything without GPU work when the budget covers the layer, and refuses what it cannot plan', async () => {
    const s = new Scenario({ layers: 1, queryHeads: 2, kvHeads: 2, headDim: 4, blockSize: 4, kvFormat: 'f32' }, 4, 3);
    s.prefill(10);
    const o: Options = { scorer: 'snapkv', allocation: 'adaptive', window: 4, protectedCount: 4, selectable: 6, alpha: 0.2, kernelSize: 7, pooling: 'max', groupReduce: 'mean' };
    expect((await s.cache.planEviction(0, o)).map((k) => k.length)).toEqual([10, 10]);
    await expect(s.cache.planEviction(0, { ...o, selectable: -1 })).rejects.toThrow(/selectable must be an integer >= 0/);
    await expect(s.cache.planEviction(0, { ...o, alpha: 2 })).rejects.toThrow(/alpha must be in \[0, 1\]/);
    await expect(s.cache.planEviction(0, { ...o, scorer: 'tova' as 'h2o' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.cache.planEviction(3, o)).rejects.toThrow(/No layer 3/);
    const silent = new GpuPagedCache(gpu, { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 4 });
    silent.append(0, new Float32Array(80).fill(1), new Float32Array(80).fill(1), Int32Array.from({ length: 10 }, (_, t) => t));
    await expect(silent.planEviction(0, { ...o, selectable: 1 })).rejects.toThrow(/call recordQueries/);
    expect(() => silent.seedQueries(0, new Float32Array(8), Int32Array.of(0))).toThrow(/recordQueries/);
    // a NaN key: a query row that sees it attends to nothing, as the reference's softmax does; where
    // the key is selectable its score is NaN, which the reference refuses (requireFiniteScores)
    s.cache.append(0, new Float32Array(8).fill(Number.NaN), new Float32Array(8), Int32Array.of(10));
    const query = new Float32Array(8).fill(1);
    await s.cache.attend(0, query);
    s.remember(0, query, 10);
    expect(await expectTwinPlan(s, 0, { ...o, selectable: 1, protectedCount: 2 })).toBe('equal');
    await expect(s.cache.planEviction(0, { ...o, selectable: 1, protectedCount: 0 })).rejects.toThrow(expect.objectContaining({ code: 'INVALID_NUMBER' }));
    await expect(s.cache.evictionScores(0, { ...o, protectedCount: 0 })).rejects.toThrow(/not finite/);
    expect(s.cache.liveBuffers).toBe(2 + 1); // the private pool's K and V, and the layer's query ring
    s.cache.destroy();
    silent.destroy();
    expect(s.cache.liveBuffers).toBe(0);
  });

  it('records the same query rows through the batched decode as through decode', async () => {
    const shape: LlamaShape = { dim: 16, hiddenDim: 23, layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4, vocabSize: 13, contextLength: 64, normEps: 1e-5 };
    const decoder = new GpuLlamaDecoder(gpu, shape, randomLlama(shape, 5));
    const cacheShape = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 4, blockSize: 4 };
    const pool = new GpuKvPool(gpu, cacheShape);
    const batched = [GpuPagedCache.inPool(pool), GpuPagedCache.inPool(pool)];
    const alone = [new GpuPagedCache(gpu, cacheShape), new GpuPagedCache(gpu, cacheShape)];
    const prompts = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [5, 4, 3]];
    for (const [i, cache] of [...batched.entries(), ...alone.entries()]) {
      cache.recordQueries(6);
      const { observations } = await decoder.prefill(prompts[i]!, cache);
      observations.forEach((o, layer) => cache.seedQueries(layer, o.queries, Int32Array.from(prompts[i]!, (_, t) => t)));
    }
    let tokens = [1, 2];
    for (let step = 0; step < 4; step++) {
      const positions = prompts.map((p) => p.length + step);
      const inputs = tokens;
      tokens = await decoder.decodeBatchGreedy(inputs, positions, batched);
      for (const [i, cache] of alone.entries()) expect(await decoder.decodeGreedy(inputs[i]!, positions[i]!, cache)).toBe(tokens[i]);
    }
    const o: Options = { scorer: 'h2o', allocation: 'adaptive', window: 6, protectedCount: 3, selectable: 4, alpha: 0.2, kernelSize: 7, pooling: 'max', groupReduce: 'mean' };
    for (const [i, cache] of batched.entries()) {
      for (let layer = 0; layer < 2; layer++) {
        const [x, y] = [await cache.evictionScores(layer, o), await alone[i]!.evictionScores(layer, o)];
        x.forEach((row, h) => row.forEach((v, t) => expect(Math.abs(v - y[h]![t]!)).toBeLessThanOrEqual(1e-6)));
        expect(await cache.planEviction(layer, o)).toEqual(await alone[i]!.planEviction(layer, o));
      }
    }
    for (const cache of alone) cache.destroy();
    pool.destroy();
    decoder.destroy();
  });
});
