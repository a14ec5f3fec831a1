import { KV_FORMATS, type KvFormat } from '@adakv/allocator-wasm';
import type { CompressionPlan } from '../compression-plan.js';
import { BudgetError, OptionError } from '../errors.js';
import type { CacheGeometry } from '../geometry.js';
import { resolveMethodOptions } from '../methods/options.js';
import { type MethodName, type MethodOptions, getMethod } from '../methods/registry.js';
import { checkObservations } from '../metrics/window-attention.js';
import type { LayerObservation } from '../model/observation.js';
import { keepEverythingPlan, planCompression } from '../plan.js';
import type { OutputProjection } from '../scorers/output-projection.js';
import { fitBesideWindow } from '../allocation/block-aligned.js';
import { bytesPerBlock, heldBytes, residualBytes } from './held-bytes.js';
import { bytesOf, chooseHeadOptions } from './choose-head-options.js';
import { headOutputL1s, heldOutReference, meanOverHeads } from './quantized-attention-l1.js';

/*
 * The rule (kept simple and deterministic on purpose):
 * 1. For each format, the whole blocks the budget buys per layer, `N = floor(bytes / (layers x
 *    blockBytes))` (blocks of `blockSize` rows of that format, scales included), and the entries per
 *    KV head they hold on average, T = ceil(N x blockSize / kvHeads).
 * 2. Everything fits in whole blocks: keep everything (quantization only). The heads' protected
 *    windows need more than N blocks: the format is infeasible. Otherwise plan eviction with the
 *    method at T tokens per head, its heads' shares rounded to whole blocks (`blockSize` of
 *    planCompression: no block holds empty rows, the leftover blocks go to the heads whose next
 *    entries score highest). Should a plan still hold more than the budget (a method that rounds by
 *    itself), T steps down one token at a time until it fits.
 * 3. Score each feasible candidate by the mean attention-output L1 of held-out queries (the `window`
 *    prompt rows before the observation window, which chose no entry: see heldOutReference), exact
 *    f64 attention over the full exact K/V against attention over the kept entries as the format
 *    stores them (quantizeHeadRows), per (layer, KV head) and then averaged.
 * 4. Precision per layer and KV head (`mixedFormats`, the default): each head may take its kept
 *    entries and format from any feasible candidate, costing its whole blocks in that format and
 *    scoring its own held-out error; chooseHeadOptions picks one per head for the least total error
 *    within the budget: heads where entries matter more than rounding keep many coarse entries, heads
 *    where rounding costs more keep fewer, finer ones.
 * 5. The lowest mean error wins; ties go to one format for all heads, then to the higher precision
 *    (f32, f16, int8, int4).
 * With `fullPrecisionWindow`, an int8/int4 head holds its protected window in f32, in the rows of its
 * last, partly filled block (the pool's residual, `2 x blockSize x headDim x 4` bytes a head, counted):
 * its other entries are planned in whole blocks apart from the window (`windowApart`), f16 is not
 * considered, and the window must be shorter than a block.
 */

/** A byte budget as a fraction of the prompt's full f32 cache. */
export interface ByteFraction {
  /** The fraction, e.g. `1 / 16`. */
  readonly fraction: number;
}

/** What {@link planForBytes} plans from. */
export interface BytePlanInput {
  /** The cache's shape. */
  readonly geometry: CacheGeometry;
  /** What prefill saw, one entry per layer. */
  readonly observations: readonly LayerObservation[];
  /**
   * The budget for the sequence's K+V over all layers and KV heads: bytes, or `{ fraction }` of the
   * prompt's full f32 cache (`layers x kvHeads x n x headDim x 8` bytes).
   */
  readonly bytes: number | ByteFraction;
  /**
   * The eviction method (default `'kvcompress'`: one byte budget for the whole sequence, spent where
   * its entries score highest across layers and heads, as KV-Compress evicts).
   */
  readonly method?: MethodName;
  /** Method option overrides (`window` is the protected recent window). */
  readonly options?: Partial<MethodOptions>;
  /** Rows per pool block (default 16; the store's block size). */
  readonly blockSize?: number;
  /**
   * Bytes of one block of `blockSize` rows in a format, as the store lays it out (`backend.blockBytes`);
   * default: the wasm pool's (`kvBlockBytes`).
   */
  readonly blockBytes?: (format: KvFormat) => number;
  /** Formats to consider (default all four). */
  readonly formats?: readonly KvFormat[];
  /**
   * Whether heads may differ in format (default true): the store must then take a format per layer and
   * KV head (`StoreOptions.kvFormats`; `backend.mixedKvFormats`).
   */
  readonly mixedFormats?: boolean;
  /** The model's output projections, for methods that read them (see `planCompression`). */
  readonly outputProjection?: OutputProjection;
  /**
   * Keep the protected window at full precision (default false): an int8/int4 head holds the window's
   * rows in f32 (its residual block, counted in the budget) until decoding fills that block; f16 is
   * then not considered. The window must be shorter than a block. Worth its fixed cost per head (6 KiB
   * at head dim 48 and blocks of 16) where budgets are large against it.
   */
  readonly fullPrecisionWindow?: boolean;
}

/** One format considered by {@link planForBytes}, or `'mixed'`: a format per layer and KV head. */
export interface BytePlanCandidate {
  /** The storage format, or `'mixed'` (see {@link BytePlan.headFormats}). */
  readonly format: KvFormat | 'mixed';
  /**
   * Tokens per KV head the format affords (the budget eviction was planned at, or the prompt when
   * everything is kept); for `'mixed'`, the mean kept per head.
   */
  readonly tokensPerHead: number;
  /** Mean attention-output L1 of the held-out queries against the full exact cache; `Infinity` when infeasible. */
  readonly predictedError: number;
  /** Whether the format can hold the protected window within the budget. */
  readonly feasible: boolean;
  /** Bytes the kept entries hold in this format (0 when infeasible). */
  readonly heldBytes: number;
}

/** The format and entries chosen for a byte budget, with every candidate considered. */
export interface BytePlan {
  /** The chosen storage format, or `'mixed'` when heads differ (then see `headFormats`). */
  readonly format: KvFormat | 'mixed';
  /** The format of each (layer, KV head), `[layer][head]`: what the store is made with. */
  readonly headFormats: readonly (readonly KvFormat[])[];
  /** Tokens per KV head of the chosen candidate. */
  readonly tokensPerHead: number;
  /** The entries to keep (keeps every entry when the format holds the whole prompt). */
  readonly plan: CompressionPlan;
  /** The budget in bytes, resolved. */
  readonly bytes: number;
  /** Bytes the chosen plan holds in the chosen format (at most `bytes`). */
  readonly heldBytes: number;
  /** Every format considered, in the order given. */
  readonly candidates: readonly BytePlanCandidate[];
  /**
   * Rows of the protected window an int8/int4 head holds in f32 apart from its other entries (the
   * last `fullPrecisionWindow` rows of the prompt; 0 without it): the store is built with
   * {@link storeKeptRows}'s `windowRows`.
   */
  readonly windowRows: number;
}

/**
 * The eviction method byte budgets use unless told otherwise. Measured on stories15M over three texts
 * (the core README): at 1/16 and 1/32 of the f32 cache its joint plans have a lower KL than
 * Ada-SnapKV's on every text; at 1/4, where both agree with the full cache on 97-99% of tokens, Ada-SnapKV's.
 */
export const DEFAULT_BYTE_METHOD: MethodName = 'kvcompress';

/** Higher precision first: the order ties are broken in. */
const PRECISION: readonly KvFormat[] = ['f32', 'f16', 'int8', 'int4'];

/** A share as users write a budget: `12.5%`, `0.31%`. */
const formatShare = (share: number) => `${Number((share * 100).toPrecision(3))}%`;

const keptLengths = (plan: CompressionPlan) => plan.layers.flatMap((l) => l.kept.map((k) => k.length));

function resolveBytes(spec: BytePlanInput['bytes'], fullBytes: number): number {
  const bytes = typeof spec === 'number' ? spec : Math.floor(spec.fraction * fullBytes);
  const given = typeof spec === 'number' ? spec : spec.fraction;
  if (!Number.isFinite(given) || given <= 0) throw new OptionError(`The byte budget must be a positive number (bytes or { fraction }), got ${given}.`);
  return bytes;
}

/**
 * Chooses the storage format and the entries to keep for a per-sequence K+V byte budget, trading
 * eviction against precision by the rule in this file's header: per format the most tokens per head
 * that fit, eviction planned by `method` when that is less than the prompt, each candidate scored by
 * held-out queries' attention-output L1 as the format stores the kept entries; the lowest wins,
 * ties to the higher precision. Throws a {@link BudgetError} (with the smallest budget that works)
 * when no format holds the protected window.
 */
export function planForBytes(input: BytePlanInput): BytePlan {
  const { geometry, observations } = input;
  const method = input.method ?? DEFAULT_BYTE_METHOD;
  const blockSize = input.blockSize ?? 16;
  const given = input.formats ?? KV_FORMATS;
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new OptionError(`blockSize must be a whole number >= 1, got ${blockSize}.`);
  if (given.length === 0 || given.some((f) => !KV_FORMATS.includes(f))) {
    throw new OptionError(`formats must be some of ${KV_FORMATS.join(', ')}; got ${given.join(', ') || 'none'}.`);
  }
  const n = checkObservations(geometry, observations);
  const { window } = resolveMethodOptions(getMethod(method), input.options ?? {});
  const { layers, kvHeads, headDim: d } = geometry;
  const heads = layers * kvHeads;
  const fullBytes = heads * n * d * 8;
  const bytes = resolveBytes(input.bytes, fullBytes);
  const reference = heldOutReference(geometry, observations, window);
  const blockBytesOf = input.blockBytes ?? ((format: KvFormat) => bytesPerBlock(format, d, blockSize));
  const protectedRows = Math.min(window, n);
  const fullWindow = input.fullPrecisionWindow === true;
  const formats = fullWindow ? fullPrecisionWindowFormats(given, window, blockSize) : given;
  // with the window in f32 apart, an int8/int4 head also holds its residual block
  const apart = (format: KvFormat) => fullWindow && (format === 'int8' || format === 'int4');
  const residual = (format: KvFormat) => (fullWindow ? residualBytes(format, d, blockSize) : 0);
  const held = (format: KvFormat, lengths: readonly number[]) => heldBytes(format, lengths, d, blockSize, blockBytesOf(format)) + lengths.length * residual(format);

  type Planned = BytePlanCandidate & { plan?: CompressionPlan; headErrors?: number[][]; headFormats?: KvFormat[][] };
  const candidates = formats.map((format): Planned => {
    const blockBytes = blockBytesOf(format);
    const windowApart = apart(format);
    const blocksPerLayer = Math.floor((bytes - heads * residual(format)) / (layers * blockBytes));
    // rounded up: the plan keeps floor(kvHeads x T / blockSize) whole blocks a layer, N when kvHeads <= blockSize;
    // apart, each head's window takes one of them and the rest hold its other entries
    const affordable = windowApart
      ? Math.max(0, Math.ceil(((blocksPerLayer - kvHeads) * blockSize) / kvHeads)) + protectedRows
      : Math.ceil((blocksPerLayer * blockSize) / kvHeads);
    const infeasible = { format, tokensPerHead: affordable, predictedError: Infinity, feasible: false, heldBytes: 0 };
    if (format === 'int4' && d % 2 !== 0) return infeasible;
    const windowBlocks = windowApart ? 1 : Math.ceil(protectedRows / blockSize);
    // apart, keeping everything needs room for the window in the last block beside the others
    const everythingFits = !windowApart || fitBesideWindow(n - protectedRows, protectedRows, blockSize) === n - protectedRows;
    let plan: CompressionPlan;
    let tokensPerHead = affordable;
    if (everythingFits && held(format, new Array<number>(heads).fill(n)) <= bytes) {
      plan = keepEverythingPlan(geometry, n, { method: 'full', budget: n, window });
      tokensPerHead = n;
    } else if (blocksPerLayer < 0 || affordable < protectedRows || kvHeads * windowBlocks > blocksPerLayer) {
      return infeasible;
    } else {
      tokensPerHead = Math.min(tokensPerHead, n - 1);
      const planAt = (budget: number) =>
        planCompression({
          method,
          geometry,
          observations,
          budget,
          blockSize,
          ...(windowApart ? { windowApart } : {}),
          ...(input.options ? { options: input.options } : {}),
          ...(input.outputProjection ? { outputProjection: input.outputProjection } : {}),
        });
      plan = planAt(tokensPerHead);
      while (held(format, keptLengths(plan)) > bytes && tokensPerHead > protectedRows) plan = planAt(--tokensPerHead);
    }
    const planned = held(format, keptLengths(plan));
    if (planned > bytes) return infeasible; // never hand back a plan over the budget
    const headErrors = headOutputL1s(reference, plan.layers.map((l) => l.kept), format, blockSize);
    return { format, tokensPerHead, predictedError: meanOverHeads(headErrors), feasible: true, heldBytes: planned, plan, headErrors };
  });

  let best: Planned | undefined;
  for (const format of PRECISION) {
    const candidate = candidates.find((c) => c.format === format && c.feasible);
    if (candidate && (!best || candidate.predictedError < best.predictedError)) best = candidate;
  }
  const mixed = input.mixedFormats === false ? undefined : mixedCandidate(candidates, bytes, blockSize, held);
  if (mixed && best && mixed.predictedError < best.predictedError) best = mixed;
  if (!best?.plan) {
    const least = Math.min(
      ...formats.filter((f) => f !== 'int4' || d % 2 === 0).map((f) => heads * held(f, [protectedRows])),
    );
    throw new BudgetError(
      `A budget of ${bytes} bytes cannot hold the protected window of ${protectedRows} tokens in ${layers} layers x ${kvHeads} KV heads ` +
        `in any of ${formats.join(', ')} (blocks of ${blockSize}); the smallest budget that works is ${least} bytes ` +
        `(${formatShare(least / fullBytes)} of this prompt's full f32 cache).`,
    );
  }
  const { format } = best;
  const headFormats = best.headFormats ?? best.plan.layers.map((l) => l.kept.map(() => format as KvFormat));
  return {
    format: best.format,
    headFormats,
    tokensPerHead: best.tokensPerHead,
    plan: best.plan,
    bytes,
    heldBytes: best.heldBytes,
    windowRows: fullWindow ? protectedRows : 0,
    candidates: [...candidates, ...(mixed ? [mixed] : [])].map(({ format, tokensPerHead, predictedError, feasible, heldBytes }) => ({ format, tokensPerHead, predictedError, feasible, heldBytes })),
  };
}

/**
 * The formats that hold a window of `window` rows in f32 (f32 itself, and int8/int4 apart in their
 * residual; not f16); refuses a window of a block or more where an int8/int4 head would hold it.
 */
function fullPrecisionWindowFormats(formats: readonly KvFormat[], window: number, blockSize: number): KvFormat[] {
  if (window >= blockSize && formats.some((format) => format === 'int8' || format === 'int4')) {
    throw new OptionError(
      `A full-precision window of ${window} rows needs blocks longer than it: an int8/int4 head holds it in the f32 rows of its ` +
        `last, partly filled block (blocks of ${blockSize} rows here). Lower the window below ${blockSize}, or use larger blocks.`,
    );
  }
  const kept = formats.filter((format) => format !== 'f16');
  if (kept.length === 0) throw new OptionError('A full-precision window needs f32, int8 or int4 among the formats: f16 holds the window in f16.');
  return kept;
}

/**
 * The plan with a format per (layer, KV head) (rule 4): each head takes its kept entries and format
 * from one feasible candidate; `undefined` when fewer than two candidates are feasible or the heads
 * all end up choosing one candidate.
 */
function mixedCandidate(
  candidates: readonly (BytePlanCandidate & { plan?: CompressionPlan; headErrors?: number[][] })[],
  bytes: number,
  blockSize: number,
  held: (format: KvFormat, lengths: readonly number[]) => number,
): (BytePlanCandidate & { plan: CompressionPlan; headFormats: KvFormat[][] }) | undefined {
  const feasible = PRECISION.flatMap((format) => candidates.filter((c) => c.format === format && c.feasible && c.plan && c.headErrors));
  if (feasible.length < 2) return undefined;
  const first = feasible[0]!.plan!;
  const options = first.layers.flatMap((layer, l) =>
    layer.kept.map((_, h) =>
      feasible.map((c) => ({ bytes: held(c.format as KvFormat, [c.plan!.layers[l]!.kept[h]!.length]), error: c.headErrors![l]![h]! })),
    ),
  );
  const choice = chooseHeadOptions(options, bytes);
  if (!choice || choice.every((o) => o === choice[0])) return undefined;
  const kvHeads = first.layers[0]!.kept.length;
  const from = (l: number, h: number) => feasible[choice[l * kvHeads + h]!]!;
  const layers = first.layers.map((layer, l) => {
    const kept = layer.kept.map((_, h) => from(l, h).plan!.layers[l]!.kept[h]!);
    const budgetPerHead = Int32Array.from(layer.kept, (_, h) => from(l, h).plan!.layers[l]!.budgetPerHead[h]!);
    return { kept, budgetPerHead };
  });
  const achievedTotal = layers.reduce((sum, layer) => sum + layer.kept.reduce((s, k) => s + k.length, 0), 0);
  const plan: CompressionPlan = { ...first, layers, achievedTotal, requestedTotal: achievedTotal };
  const headErrors = layers.map((layer, l) => layer.kept.map((_, h) => from(l, h).headErrors![l]![h]!));
  const headFormats = layers.map((layer, l) => layer.kept.map((_, h) => from(l, h).format as KvFormat));
  return {
    format: 'mixed',
    tokensPerHead: achievedTotal / (layers.length * kvHeads),
    predictedError: meanOverHeads(headErrors),
    feasible: true,
    heldBytes: bytesOf(options, choice),
    plan,
    headFormats,
  };
}
