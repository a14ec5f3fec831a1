import { describe, expect, it } from 'vitest';
import {
  type CacheGeometry,
  DecodeEviction,
  type LayerObservation,
  ReferenceBackend,
  ReferenceStore,
  randomDraw,
} from '../../src/index.js';
import { randomOutputProjection } from '../compression/random-observations.js';
import { decodeStream, heldPositions, runStream } from './decode-stream.js';

// Each decode-time method against a small f64 reference written from its paper's description, not
// from our code: random K/V/Q stream through a reference store step by step, the policy evicts, and
// after every step each (layer, KV head) must hold exactly the positions the reference holds.

const geometry: CacheGeometry = { layers: 2, queryHeads: 4, kvHeads: 2, headDim: 8 };
const G = geometry.queryHeads / geometry.kvHeads;
const d = geometry.headDim;
const modelDim = 12;

interface Entry {
  position: number;
  key: Float64Array;
  value: Float64Array;
  metric: number; // running sum (cumulative methods)
}

/** Causal softmax of one query head over a head's entries, in f64. */
function softmax(query: ArrayLike<number>, entries: readonly Entry[], position: number): number[] {
  const logits = entries.map((e) => (e.position > position ? -Infinity : e.key.reduce((s, k, i) => s + k * query[i]!, 0) / Math.sqrt(d)));
  const max = Math.max(...logits);
  const w = logits.map((l) => (l === -Infinity ? 0 : Math.exp(l - max)));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

interface Method {
  name: string;
  options: Record<string, number>;
  /** Query rows kept for re-scoring (recent methods), or null (cumulative ones add each row once). */
  cumulative: 'squared' | 'attention' | null;
  joint: boolean;
}

/** The reference: a cache of plain f64 entries and the method's rules, as the papers state them. */
class ReferenceSimulation {
  readonly heads: Entry[][][];
  private readonly queries: { position: number; row: Float64Array }[][] = [];

  constructor(
    private readonly method: Method,
    private readonly limit: number,
    private readonly every: number,
    private readonly wo: (layer: number) => Float32Array,
    prompt: LayerObservation[],
  ) {
    const n = prompt[0]!.keys.length / (geometry.kvHeads * d);
    const { window } = method.options as { window: number };
    this.heads = prompt.map((o) =>
      Array.from({ length: geometry.kvHeads }, (_, h) =>
        Array.from({ length: n }, (_, t) => ({
          position: t,
          key: Float64Array.from(o.keys.subarray((t * geometry.kvHeads + h) * d, (t * geometry.kvHeads + h + 1) * d)),
          value: Float64Array.from(o.values.subarray((t * geometry.kvHeads + h) * d, (t * geometry.kvHeads + h + 1) * d)),
          metric: 0,
        })),
      ),
    );
    prompt.forEach((o, layer) => {
      const rows = Array.from({ length: n }, (_, t) => ({ position: t, row: Float64Array.from(o.queries.subarray(t * geometry.queryHeads * d, (t + 1) * geometry.queryHeads * d)) }));
      // H2O counts every prompt query, KV-Compress the observation window; recent methods keep the window
      if (method.cumulative) for (const { position, row } of method.cumulative === 'attention' ? rows : rows.slice(-window)) this.observe(layer, row, position);
      this.queries.push(rows.slice(-window));
    });
    this.maybeEvict();
  }

  /** Adds what one query row gave each entry of a layer to its metric. */
  private observe(layer: number, row: Float64Array, position: number): void {
    this.heads[layer]!.forEach((entries, h) => {
      const perEntry = new Float64Array(entries.length);
      for (let m = 0; m < G; m++) {
        const p = softmax(row.subarray((h * G + m) * d, (h * G + m + 1) * d), entries, position);
        // KV-Compress: squared attention summed over the group; H2O: attention averaged over the group
        p.forEach((x, i) => (perEntry[i]! += this.method.cumulative === 'squared' ? x * x : x / G));
      }
      entries.forEach((e, i) => (e.metric += perEntry[i]!));
    });
  }

  step(position: number, layers: { key: Float32Array; value: Float32Array; query: Float32Array }[]): void {
    const { window } = this.method.options as { window: number };
    layers.forEach(({ key, value, query }, layer) => {
      this.heads[layer]!.forEach((entries, h) =>
        entries.push({ position, key: Float64Array.from(key.subarray(h * d, (h + 1) * d)), value: Float64Array.from(value.subarray(h * d, (h + 1) * d)), metric: 0 }),
      );
      const row = Float64Array.from(query);
      if (this.method.cumulative) this.observe(layer, row, position);
      this.queries[layer] = [...this.queries[layer]!, { position, row }].slice(-window);
    });
    this.maybeEvict();
  }

  private maybeEvict(): void {
    const { window } = this.method.options as { window: number };
    const total = (layer: number) => this.heads[layer]!.reduce((s, e) => s + e.length, 0);
    if (this.method.joint) {
      const all = this.heads.reduce((s, _, l) => s + total(l), 0);
      if (all > geometry.layers * geometry.kvHeads * this.limit) this.evictJointly(geometry.layers * geometry.kvHeads * (this.limit - this.every));
      return;
    }
    for (let layer = 0; layer < geometry.layers; layer++) {
      if (total(layer) > geometry.kvHeads * this.limit) this.evictLayer(layer, this.limit - this.every - window);
    }
  }

  private metricOf(layer: number, h: number, e: Entry): number {
    const { seed } = this.method.options as { seed?: number };
    return this.method.name === 'random' ? randomDraw(seed ?? 0, layer, h, e.position) : e.metric;
  }

  /**
   * KV-Compress's eviction: each head's evictable entries sorted by metric (older first on ties),
   * cut into blocks — its last, partial block first, then whole ones — a block's key being its largest
   * entry's; the sequence's blocks taken in order of key until the target is met.
   */
  private evictJointly(target: number): void {
    const { window, blockSize, maxEvictPerStep } = this.method.options as { window: number; blockSize: number; maxEvictPerStep: number };
    const flat = this.heads.flatMap((layer, l) => layer.map((entries, h) => ({ l, h, entries })));
    const sorted = flat.map(({ l, h, entries }, index) =>
      entries
        .slice(0, Math.max(0, entries.length - window))
        .map((e, i) => ({ metric: this.metricOf(l, h, e), index: i, head: index }))
        .sort((a, b) => a.metric - b.metric || a.index - b.index),
    );
    const taken = flat.map(() => 0);
    const nextSize = flat.map(({ entries }) => ((entries.length - 1) % blockSize) + 1); // its last, partial block
    let count = flat.reduce((s, f) => s + f.entries.length, 0);
    let evicted = 0;
    type Key = { metric: number; head: number; index: number };
    const before = (a: Key, b: Key) => (a.metric - b.metric || a.head - b.head || a.index - b.index) < 0;
    while (count > target) {
      let best = -1;
      for (let f = 0; f < flat.length; f++) {
        const last = taken[f]! + nextSize[f]! - 1;
        if (last >= sorted[f]!.length) continue;
        if (best < 0 || before(sorted[f]![last]!, sorted[best]![taken[best]! + nextSize[best]! - 1]!)) best = f;
      }
      if (best < 0) break;
      if (maxEvictPerStep > 0 && evicted + nextSize[best]! > maxEvictPerStep) break;
      taken[best]! += nextSize[best]!;
      evicted += nextSize[best]!;
      count -= nextSize[best]!;
      nextSize[best] = blockSize;
    }
    flat.forEach(({ l, h, entries }, f) => {
      const gone = new Set(sorted[f]!.slice(0, taken[f]).map((x) => x.index));
      this.heads[l]![h] = entries.filter((_, i) => !gone.has(i));
    });
  }

  /** A layer down to `selectable` per head on average (plus the window), by the method's per-head rule. */
  private evictLayer(layer: number, selectable: number): void {
    const { window } = this.method.options as { window: number };
    const heads = this.heads[layer]!;
    const scores = heads.map((entries, h) => this.scores(layer, h, entries.slice(0, Math.max(0, entries.length - window))));
    let caps = heads.map((_, h) => Math.min(scores[h]!.length, selectable));
    if (this.method.name.startsWith('ada-')) {
      // Ada-KV: the top heads x B' scores of the layer, counted per head, with the safeguard
      const { alpha } = this.method.options as { alpha: number };
      const flat = scores.flatMap((row, h) => row.map((s, i) => ({ s, h, i }))).sort((a, b) => b.s - a.s || a.h - b.h || a.i - b.i);
      const counts = heads.map(() => 0);
      for (const x of flat.slice(0, heads.length * selectable)) counts[x.h]!++;
      const halfEven = (x: number) => (x - Math.floor(x) === 0.5 ? (Math.floor(x) % 2 === 0 ? Math.floor(x) : Math.floor(x) + 1) : Math.round(x));
      caps = counts.map((c, h) => Math.min(scores[h]!.length, halfEven(c * (1 - alpha) + Math.floor(selectable * alpha))));
    }
    heads.forEach((entries, h) => {
      const selectableCount = Math.max(0, entries.length - window);
      const final = this.secondStage(layer, h, entries.slice(0, selectableCount), scores[h]!, caps[h]!);
      const keep = new Set(final.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i).slice(0, caps[h]).map((x) => x.i));
      this.heads[layer]![h] = entries.filter((_, i) => i >= selectableCount || keep.has(i));
    });
  }

  /** A head's selectable scores: H2O its running sums; SnapKV the window's attention, group mean, max-pooled. */
  private scores(layer: number, h: number, selectable: Entry[]): number[] {
    if (this.method.cumulative) return selectable.map((e) => e.metric);
    const { kernelSize } = this.method.options as { kernelSize: number };
    const entries = this.heads[layer]![h]!;
    const rows = this.queries[layer]!;
    const mean = selectable.map(() => 0);
    for (const { position, row } of rows) {
      for (let m = 0; m < G; m++) {
        const p = softmax(row.subarray((h * G + m) * d, (h * G + m + 1) * d), entries, position);
        for (let t = 0; t < selectable.length; t++) mean[t]! += p[t]! / rows.length / G;
      }
    }
    const half = Math.floor(kernelSize / 2);
    return mean.map((_, t) => Math.max(...mean.slice(Math.max(0, t - half), t + half + 1)));
  }

  /** CriticalKV: a first share by attention, the rest by (attention + eps) x ||W_o v||_1 (group mean). */
  private secondStage(layer: number, h: number, selectable: Entry[], scores: number[], keep: number): number[] {
    if (!this.method.name.includes('criti')) return scores;
    const { epsilon, firstStageRatio } = this.method.options as { epsilon: number; firstStageRatio: number };
    const wo = this.wo(layer);
    const width = geometry.queryHeads * d;
    const norms = selectable.map((e) => {
      let total = 0;
      for (let m = 0; m < G; m++) {
        const q = h * G + m;
        for (let j = 0; j < modelDim; j++) {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += wo[j * width + q * d + i]! * e.value[i]!;
          total += Math.abs(dot);
        }
      }
      return total / G;
    });
    const first = new Set(scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i).slice(0, Math.floor(keep * firstStageRatio)).map((x) => x.i));
    return scores.map((s, i) => (first.has(i) ? Infinity : (s + epsilon) * norms[i]!));
  }
}

const methods: Method[] = [
  { name: 'kvcompress', options: { window: 4, blockSize: 1, maxEvictPerStep: 0 }, cumulative: 'squared', joint: true },
  { name: 'kvcompress', options: { window: 4, blockSize: 4, maxEvictPerStep: 0 }, cumulative: 'squared', joint: true },
  { name: 'kvcompress', options: { window: 3, blockSize: 2, maxEvictPerStep: 6 }, cumulative: 'squared', joint: true },
  { name: 'random', options: { window: 4, blockSize: 4, maxEvictPerStep: 0, seed: 12345 }, cumulative: null, joint: true },
  { name: 'h2o', options: { window: 4 }, cumulative: 'attention', joint: false },
  { name: 'criti-snapkv', options: { window: 4, kernelSize: 3, epsilon: 1e-4, firstStageRatio: 0.5 }, cumulative: null, joint: false },
  { name: 'ada-criti-snapkv', options: { window: 4, kernelSize: 3, epsilon: 1e-4, firstStageRatio: 0.5, alpha: 0.2 }, cumulative: null, joint: false },
  { name: 'criti-snapkv', options: { window: 4, kernelSize: 1, epsilon: 1e-4, firstStageRatio: 0 }, cumulative: null, joint: false },
];

describe('decode-time eviction against an f64 reference of each paper', () => {
  it.each(methods.map((m) => [`${m.name} ${JSON.stringify(m.options)}`, m] as const))('%s', async (_, method) => {
    const n = 20;
    const steps = 30;
    const limit = 14;
    const every = 3;
    const { prompt, decode } = decodeStream(geometry, n, steps, 31);
    const wo = randomOutputProjection(geometry, modelDim, 3);
    const store = new ReferenceStore(geometry);
    const { name, options } = method;
    const policy = new DecodeEviction(new ReferenceBackend(), store, { method: name, maxTokensPerHead: limit, every, options, outputProjection: wo });
    const reference = new ReferenceSimulation(method, limit, every, wo, prompt);
    await runStream(store, policy, { prompt, decode }, (s) => {
      if (s >= 0) reference.step(n + s, decode[s]!);
      expect(heldPositions(store), `after step ${s}`).toEqual(reference.heads.map((layer) => layer.map((entries) => entries.map((e) => e.position))));
    });
    expect(policy.evictedTokens).toBeGreaterThan(0);
    if (method.joint) {
      // layers and heads end with different sizes
      const sizes = heldPositions(store).flat().map((h) => h.length);
      if (method.options.blockSize === 1) expect(new Set(sizes).size).toBeGreaterThan(1);
    }
  });
});
