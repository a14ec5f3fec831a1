import type { KvFormat } from '@adakv/allocator-wasm';
import type { Backend } from '../backends/backend.js';
import type { CompressionPlan } from '../compression-plan.js';
import { keepEverythingPlan } from '../plan.js';
import { BudgetError, ContextOverflowError, OptionError } from '../errors.js';
import { resolveMethodOptions } from '../methods/options.js';
import { type MethodName, type MethodOptions, getMethod } from '../methods/registry.js';
import { cacheGeometry } from '../model/config.js';
import { heldBytes } from '../quantization/held-bytes.js';
import { DEFAULT_BYTE_METHOD, planForBytes } from '../quantization/plan-for-bytes.js';
import { type HeadFormats, heldOutReference, keptOutputL1 } from '../quantization/quantized-attention-l1.js';
import { type HeadKv, readHeadKv, storeKeptRows } from '../quantization/store-kept-rows.js';
import { modelOutputProjection } from '../scorers/output-projection.js';
import { type Spread, spread } from './distributions.js';
import { compareContinuation, teacherForce } from './teacher-forcing.js';
import type { TextEvaluationOptions } from './text-evaluation.js';

/**
 * How a strategy spends a byte budget: `eviction` keeps the entries its method chooses in f32;
 * `int8`/`int4` keep every entry quantized (only where that fits); `joint` lets {@link planForBytes}
 * choose one format and the entries together; `mixed` lets it choose a format per layer and KV head
 * too (on a backend whose stores take one, `backend.mixedKvFormats`).
 */
export type KvBytesStrategy = 'eviction' | 'int8' | 'int4' | 'joint' | 'mixed';

/** The eviction-only strategy's method unless told otherwise: Ada-SnapKV in f32, the baseline a byte budget is measured against. */
export const EVICTION_BASELINE: MethodName = 'ada-snapkv';

/** The strategies {@link evaluateKvBytes} compares by default. */
export const KV_BYTES_STRATEGIES: readonly KvBytesStrategy[] = ['eviction', 'int8', 'int4', 'joint', 'mixed'];

/** What {@link evaluateKvBytes} runs. */
export interface KvBytesOptions extends TextEvaluationOptions {
  /** Where the model runs and the caches live: a backend whose `createStore` takes `kvFormat` (wasm). */
  readonly backend: Backend;
  /** Byte budgets as fractions of the prompt's full f32 cache (default 1/4, 1/8, 1/16, 1/32). */
  readonly fractions?: readonly number[];
  /** Strategies to compare (default all five; `mixed` only where the backend's stores take a format per head). */
  readonly strategies?: readonly KvBytesStrategy[];
  /** Prompt tokens prefilled, then held to the budget (default 192). */
  readonly prefill?: number;
  /** Tokens teacher-forced through the budgeted cache (default 64). */
  readonly continuation?: number;
  /**
   * The eviction method of both `eviction` and `joint`. Default: the baseline for `eviction`
   * (Ada-SnapKV, {@link EVICTION_BASELINE}) and the byte planner's own for `joint`
   * ({@link DEFAULT_BYTE_METHOD}, kvcompress).
   */
  readonly method?: MethodName;
  /** Method options, over `{ window: 16 }` (`window` is the protected recent window). */
  readonly options?: Partial<MethodOptions>;
  /**
   * `joint` and `mixed` keep the protected window in f32 (`planForBytes`'s `fullPrecisionWindow`,
   * default false); the window must then be shorter than the store's blocks.
   */
  readonly fullPrecisionWindow?: boolean;
}

/** One (strategy, fraction) of a {@link KvBytesReport}, each figure spread over the segments. */
export interface KvBytesRow {
  /** The strategy. */
  readonly strategy: KvBytesStrategy;
  /** The budget as a fraction of the prompt's full f32 cache. */
  readonly fraction: number;
  /** The budget in bytes. */
  readonly budgetBytes: number;
  /** Whether the strategy fits the budget (when not, every figure is empty and `reason` says why). */
  readonly fits: boolean;
  /** Why it does not fit. */
  readonly reason?: string;
  /** Bytes the budgeted cache held right after it was built (`store.bytes()`). */
  readonly kvBytes: Spread;
  /** Bytes it held after the continuation (decoded tokens appended, plus int8/int4 heads' f32 residual blocks). */
  readonly kvBytesAfterDecode: Spread;
  /** Mean KL(full || budgeted) of the next-token distributions over the continuation (nats). */
  readonly kl: Spread;
  /** Share of continuation steps where the budgeted cache predicts the full cache's top token. */
  readonly agreement: Spread;
  /** Change of the mean negative log-likelihood of the real next tokens (nats; > 0 = worse). */
  readonly nllDelta: Spread;
  /** Mean attention-output L1 of the held-out queries at plan time (`heldOutReference`; as the format stores the kept entries). */
  readonly attentionL1: Spread;
  /** Entries per KV head kept on average. */
  readonly tokensPerHead: Spread;
  /** Segments per format the strategy stored in (for `joint`: what it chose; `mixed`: a format per layer and KV head). */
  readonly formats: Readonly<Partial<Record<KvFormat | 'mixed', number>>>;
}

/** What {@link evaluateKvBytes} measured, with the settings it ran with. */
export interface KvBytesReport {
  /** The settings as resolved. */
  readonly settings: {
    /** Text segments averaged over. */
    readonly segments: number;
    /** Prompt tokens prefilled. */
    readonly prefill: number;
    /** Tokens teacher-forced. */
    readonly continuation: number;
    /** The eviction method of `joint`. */
    readonly method: MethodName;
    /** The eviction method of `eviction`. */
    readonly evictionMethod: MethodName;
    /** Method options. */
    readonly options: Partial<MethodOptions>;
    /** Rows per store block. */
    readonly blockSize: number;
    /** Bytes of the prompt's full f32 cache, all layers and KV heads. */
    readonly fullKvBytes: number;
    /** Whether `joint` and `mixed` kept the protected window in f32. */
    readonly fullPrecisionWindow: boolean;
  };
  /** One row per (strategy, fraction), fractions in the order given. */
  readonly rows: readonly KvBytesRow[];
}

interface Sample {
  kl: number;
  agreement: number;
  nllDelta: number;
  attentionL1: number;
  tokensPerHead: number;
  kvBytes: number;
  kvBytesAfterDecode: number;
  format: KvFormat | 'mixed';
}

/** What a strategy keeps at one budget, or why it cannot. */
type Choice = { format: KvFormat | 'mixed'; headFormats: HeadFormats; plan: CompressionPlan; attentionL1: number; windowRows?: number } | { reason: string };


/**
 * Eviction and quantization under one byte budget, on real text: per segment, prefill `prefill`
 * tokens into an f32 store and teacher-force `continuation` tokens with the full cache; then for each
 * fraction of the prompt's full f32 cache and each strategy, build the sequence's cache in the
 * strategy's format holding only the planned entries ({@link storeKeptRows}: each block encoded once
 * over its kept rows), teacher-force the same tokens and compare next-token distributions (KL, top-1
 * agreement, NLL change), with the plan-time attention-output L1 and the bytes the store holds.
 * Quantization-only strategies that do not fit a budget give a row that says so.
 */
export async function evaluateKvBytes(options: KvBytesOptions): Promise<KvBytesReport> {
  const { model, segments, backend } = options;
  const fractions = [...new Set(options.fractions ?? [1 / 4, 1 / 8, 1 / 16, 1 / 32])];
  const strategies = [...new Set(options.strategies ?? KV_BYTES_STRATEGIES.filter((s) => s !== 'mixed' || backend.mixedKvFormats))];
  const prefill = options.prefill ?? 192;
  const continuation = options.continuation ?? 64;
  const method = options.method ?? DEFAULT_BYTE_METHOD;
  const evictionMethod = options.method ?? EVICTION_BASELINE;
  const methodOptions: Partial<MethodOptions> = { window: 16, ...options.options };
  if (!Number.isInteger(prefill) || prefill < 2) throw new OptionError(`prefill must be a whole number >= 2, got ${prefill}.`);
  if (!Number.isInteger(continuation) || continuation < 1) throw new OptionError(`continuation must be >= 1, got ${continuation}.`);
  if (prefill + continuation > model.config.contextLength) {
    throw new ContextOverflowError(`prefill ${prefill} + continuation ${continuation} exceed the model's context of ${model.config.contextLength}.`);
  }
  if (segments.length === 0) throw new OptionError('Give at least one segment of text.');
  const short = segments.findIndex((s) => s.length < prefill + continuation + 1);
  if (short >= 0) throw new OptionError(`Segment ${short} has ${segments[short]!.length} tokens; each needs prefill + continuation + 1.`);
  if (fractions.length === 0 || fractions.some((f) => !Number.isFinite(f) || f <= 0)) {
    throw new OptionError(`Give byte budgets as positive fractions of the full cache, e.g. 0.125; got ${fractions.join(', ') || 'none'}.`);
  }
  if (strategies.length === 0 || strategies.some((s) => !KV_BYTES_STRATEGIES.includes(s))) {
    throw new OptionError(`Strategies must be some of ${KV_BYTES_STRATEGIES.join(', ')}; got ${strategies.join(', ') || 'none'}.`);
  }
  if (strategies.includes('mixed') && !backend.mixedKvFormats) {
    throw new OptionError(`The mixed strategy needs stores with a format per layer and KV head; the ${backend.name} backend's hold one (use wasm or webgpu).`);
  }
  const { window } = resolveMethodOptions(getMethod(method), methodOptions); // methodOptions always sets it: both strategies share it
  if (window >= prefill) throw new BudgetError(`The observation window (${window} tokens) is not shorter than the prefill (${prefill}); nothing could be evicted.`);

  const geometry = cacheGeometry(model.config);
  const outputProjection = modelOutputProjection(model);
  // refuse a backend without quantized stores now, not after the first prefill
  backend.createStore(geometry, { kvFormat: strategies.some((s) => s !== 'eviction') ? 'int8' : 'f32' }).dispose();
  const blockSize = backend.storeBlockSize;
  if (options.fullPrecisionWindow && window >= blockSize) {
    throw new OptionError(`A full-precision window must be shorter than the store's blocks (${blockSize} rows); the window is ${window}. Lower it below ${blockSize}.`);
  }
  const blockBytes = (format: KvFormat) => backend.blockBytes(format, geometry.headDim);
  const fullKvBytes = geometry.layers * geometry.kvHeads * prefill * geometry.headDim * 8;
  const budgets = fractions.map((fraction) => Math.floor(fraction * fullKvBytes));
  const samples = new Map<string, Sample[]>();
  const reasons = new Map<string, string>();
  const total = segments.length * (1 + fractions.length * strategies.length);
  let done = 0;
  const progress = (label: string) => options.onProgress?.(++done, total, label);
  const forward = backend.forwardPass(model);

  for (const [s, tokens] of segments.entries()) {
    options.signal?.throwIfAborted();
    const fullStore = backend.createStore(geometry);
    let rows: HeadKv[][];
    let reference: Float64Array[];
    let observations;
    try {
      ({ observations } = await forward.prefill(tokens.slice(0, prefill), fullStore));
      rows = [];
      for (let layer = 0; layer < geometry.layers; layer++) rows.push(await readHeadKv(fullStore, layer));
      reference = await teacherForce(forward, fullStore, tokens, prefill, continuation, options.signal);
    } finally {
      fullStore.dispose();
    }
    progress(`segment ${s + 1}: full cache`);
    const heldOut = heldOutReference(geometry, observations, window);

    const choose = (strategy: KvBytesStrategy, bytes: number): Choice => {
      if (strategy === 'int4' && geometry.headDim % 2 !== 0) return { reason: `int4 needs an even head dim, not ${geometry.headDim}` };
      if (strategy === 'int8' || strategy === 'int4') {
        const need = heldBytes(strategy, new Array<number>(geometry.layers * geometry.kvHeads).fill(prefill), geometry.headDim, blockSize, blockBytes(strategy));
        if (need > bytes) return { reason: `keeping every entry in ${strategy} takes ${need} bytes` };
        const plan = keepEverythingPlan(geometry, prefill, { method: 'full', budget: prefill, window });
        return { format: strategy, headFormats: strategy, plan, attentionL1: keptOutputL1(heldOut, plan.layers.map((l) => l.kept), strategy, blockSize) };
      }
      try {
        const chosen = planForBytes({
          geometry,
          observations,
          bytes,
          method: strategy === 'eviction' ? evictionMethod : method,
          options: methodOptions,
          blockSize,
          blockBytes,
          outputProjection,
          mixedFormats: strategy === 'mixed',
          ...(strategy === 'eviction' ? { formats: ['f32'] as const } : {}),
          ...(options.fullPrecisionWindow && strategy !== 'eviction' ? { fullPrecisionWindow: true } : {}),
        });
        const candidate = chosen.candidates.find((c) => c.format === chosen.format)!;
        return { format: chosen.format, headFormats: chosen.headFormats, plan: chosen.plan, attentionL1: candidate.predictedError, windowRows: chosen.windowRows };
      } catch (error) {
        if (error instanceof BudgetError) return { reason: error.message };
        throw error;
      }
    };

    for (const [f, fraction] of fractions.entries()) {
      for (const strategy of strategies) {
        const key = `${strategy}\u0000${f}`;
        const choice = choose(strategy, budgets[f]!);
        if ('reason' in choice) {
          reasons.set(key, choice.reason);
          progress(`segment ${s + 1}: ${strategy} @ ${fraction}: does not fit`);
          continue;
        }
        const { headFormats } = choice;
        const store = backend.createStore(geometry, typeof headFormats === 'string' ? { kvFormat: headFormats } : { kvFormats: headFormats });
        let predicted: Float64Array[];
        let kvBytes: number;
        let kvBytesAfterDecode: number;
        try {
          choice.plan.layers.forEach((layerPlan, layer) => storeKeptRows(store, layer, rows[layer]!, layerPlan.kept, blockSize, choice.windowRows));
          kvBytes = store.bytes();
          predicted = await teacherForce(forward, store, tokens, prefill, continuation, options.signal);
          kvBytesAfterDecode = store.bytes();
        } finally {
          store.dispose();
        }
        const compared = compareContinuation(reference, predicted, tokens, prefill);
        const list = samples.get(key) ?? [];
        list.push({
          ...compared,
          attentionL1: choice.attentionL1,
          tokensPerHead: choice.plan.achievedTotal / (geometry.layers * geometry.kvHeads),
          kvBytes,
          kvBytesAfterDecode,
          format: choice.format,
        });
        samples.set(key, list);
        progress(`segment ${s + 1}: ${strategy} @ ${fraction} (${choice.format})`);
      }
    }
  }

  const rows = fractions.flatMap((fraction, f) =>
    strategies.map((strategy): KvBytesRow => {
      const key = `${strategy}\u0000${f}`;
      const list = samples.get(key) ?? [];
      const of = (field: Exclude<keyof Sample, 'format'>) => spread(list.map((x) => x[field]));
      const formats: Partial<Record<KvFormat | 'mixed', number>> = {};
      for (const sample of list) formats[sample.format] = (formats[sample.format] ?? 0) + 1;
      const reason = reasons.get(key);
      return {
        strategy,
        fraction,
        budgetBytes: budgets[f]!,
        fits: reason === undefined,
        ...(reason === undefined ? {} : { reason }),
        kvBytes: of('kvBytes'),
        kvBytesAfterDecode: of('kvBytesAfterDecode'),
        kl: of('kl'),
        agreement: of('agreement'),
        nllDelta: of('nllDelta'),
        attentionL1: of('attentionL1'),
        tokensPerHead: of('tokensPerHead'),
        formats,
      };
    }),
  );
  return { settings: { segments: segments.length, prefill, continuation, method, evictionMethod, options: methodOptions, blockSize, fullKvBytes, fullPrecisionWindow: options.fullPrecisionWindow === true }, rows };
}
