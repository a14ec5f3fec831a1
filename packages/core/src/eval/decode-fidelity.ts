import type { Backend } from '../backends/backend.js';
import { ReferenceBackend } from '../backends/reference/index.js';
import { DecodeEviction } from '../decode/decode-eviction.js';
import { BudgetError, ContextOverflowError, OptionError } from '../errors.js';
import { resolveMethodOptions } from '../methods/options.js';
import { getMethod } from '../methods/registry.js';
import type { MethodName, MethodOptions } from '../methods/registry.js';
import { cacheGeometry } from '../model/config.js';
import { modelOutputProjection } from '../scorers/output-projection.js';
import type { KvStore } from '../store.js';
import { type Spread, logSoftmax, spread } from './distributions.js';
import { compareStep, teacherForce } from './teacher-forcing.js';
import type { TextEvaluationOptions } from './text-evaluation.js';

/** What {@link evaluateDecodeEviction} runs: the model, the text, and the methods crossed with the cache limits. */
export interface DecodeFidelityOptions extends TextEvaluationOptions {
  /** Methods that evict while decoding (`full` is not one: the full cache is the reference). */
  readonly methods: readonly MethodName[];
  /** Cache limits to compare: most entries per KV head on average, window included (default `[64]`). */
  readonly limits?: readonly number[];
  /** Prompt tokens prefilled before decoding (default 64). */
  readonly prefill?: number;
  /** Tokens teacher-forced one by one with the cache limit (default 192). */
  readonly continuation?: number;
  /** Decode steps between evictions (default 16; see `DecodeEviction`). */
  readonly every?: number;
  /** Method options for every method, over `{ window: 16 }` (`window` is the protected recent window). */
  readonly options?: Partial<MethodOptions>;
  /** Where the model, its K/V and the eviction run (default: the reference backend). */
  readonly backend?: Backend;
}

/** One (method, limit) of a decode-time eviction report, each figure spread over the segments. */
export interface DecodeFidelityRow {
  /** The method's name. */
  readonly method: string;
  /** The cache limit: most entries per KV head on average, window included. */
  readonly limit: number;
  /** Mean KL(full || evicting) of the next-token distributions over the continuation (nats). */
  readonly kl: Spread;
  /** Share of continuation steps where the evicting cache predicts the full cache's top token. */
  readonly agreement: Spread;
  /** Change of the mean negative log-likelihood of the real next tokens (nats; > 0 = worse). */
  readonly nllDelta: Spread;
  /** Entries evicted per decode step, over all layers and KV heads (a segment's total / continuation). */
  readonly evictedPerStep: Spread;
  /** Compressions per decode step (a layer's eviction, or a whole sequence's for a joint method). */
  readonly evictionsPerStep: Spread;
  /** Entries per KV head the cache held on average over the continuation (after each step's eviction). */
  readonly meanCacheTokens: Spread;
}

/** What {@link evaluateDecodeEviction} measured, with the settings it ran with. */
export interface DecodeFidelityReport {
  /** The settings as resolved. */
  readonly settings: {
    /** Text segments averaged over. */
    readonly segments: number;
    /** Prompt tokens prefilled before decoding. */
    readonly prefill: number;
    /** Tokens teacher-forced with the cache limit. */
    readonly continuation: number;
    /** Decode steps between evictions. */
    readonly every: number;
    /** Method options for every method. */
    readonly options: Partial<MethodOptions>;
  };
  /** One row per (method, limit). */
  readonly rows: readonly DecodeFidelityRow[];
}

interface Sample {
  kl: number;
  agreement: number;
  nllDelta: number;
  evictedPerStep: number;
  evictionsPerStep: number;
  meanCacheTokens: number;
}

function entriesPerHead(store: KvStore): number {
  const { layers, kvHeads } = store.geometry;
  let total = 0;
  for (let l = 0; l < layers; l++) for (let h = 0; h < kvHeads; h++) total += store.length(l, h);
  return total / (layers * kvHeads);
}

/**
 * How faithful a model stays while decode-time eviction keeps its cache within a limit, on real
 * text: per segment, prefill `prefill` tokens and teacher-force `continuation` tokens one by one with
 * the full cache; then for every method x limit start again from the prompt, with a
 * {@link DecodeEviction} holding the cache to the limit (evicting every `every` steps), and teacher-force
 * the same tokens, comparing each step's next-token distribution with the full cache's. Reports mean
 * and spread over segments of KL(full || evicting), top-1 agreement, NLL change, entries evicted and
 * compressions per step, and the cache size actually held.
 */
export async function evaluateDecodeEviction(options: DecodeFidelityOptions): Promise<DecodeFidelityReport> {
  const { model, segments, methods } = options;
  const limits = [...new Set(options.limits ?? [64])];
  const prefill = options.prefill ?? 64;
  const continuation = options.continuation ?? 192;
  const every = options.every ?? 16;
  const methodOptions: Partial<MethodOptions> = { window: 16, ...options.options };
  const backend = options.backend ?? new ReferenceBackend();
  if (!Number.isInteger(prefill) || prefill < 1) throw new OptionError(`prefill must be a whole number >= 1, got ${prefill}.`);
  if (!Number.isInteger(continuation) || continuation < 1) throw new OptionError(`continuation must be >= 1, got ${continuation}.`);
  if (!Number.isInteger(every) || every < 1) throw new OptionError(`every must be a whole number of decode steps >= 1, got ${every}.`);
  if (prefill + continuation > model.config.contextLength) {
    throw new ContextOverflowError(`prefill ${prefill} + continuation ${continuation} exceed the model's context of ${model.config.contextLength}.`);
  }
  if (segments.length === 0) throw new OptionError('Give at least one segment of text.');
  const short = segments.findIndex((s) => s.length < prefill + continuation + 1);
  if (short >= 0) throw new OptionError(`Segment ${short} has ${segments[short]!.length} tokens; each needs prefill + continuation + 1.`);
  if (methods.length === 0 || limits.length === 0) throw new OptionError('Give at least one method and one cache limit.');
  for (const name of methods) {
    const method = getMethod(name);
    if (method.scorer === null) throw new OptionError(`"${name}" keeps everything; the full cache is the reference every method is compared with.`);
    const { window } = resolveMethodOptions(method, methodOptions);
    const small = limits.filter((limit) => !Number.isInteger(limit) || limit - every < window);
    if (small.length > 0) {
      throw new BudgetError(
        `Cache limits ${small.join(', ')} cannot hold the protected window and ${every} decoded tokens between evictions ` +
          `(window ${window} + every ${every}); use limits of at least ${window + every}.`,
      );
    }
  }

  const geometry = cacheGeometry(model.config);
  const outputProjection = modelOutputProjection(model);
  const samples = new Map<string, Sample[]>();
  const total = segments.length * (1 + methods.length * limits.length);
  let done = 0;
  const progress = (label: string) => options.onProgress?.(++done, total, label);
  const forward = backend.forwardPass(model);

  for (const [s, tokens] of segments.entries()) {
    options.signal?.throwIfAborted();
    const fullStore = backend.createStore(geometry);
    let reference: Float64Array[];
    try {
      await forward.prefill(tokens.slice(0, prefill), fullStore, { observations: false });
      reference = await teacherForce(forward, fullStore, tokens, prefill, continuation, options.signal);
    } finally {
      fullStore.dispose();
    }
    progress(`segment ${s + 1}: full cache`);
    for (const method of methods) {
      for (const limit of limits) {
        const store = backend.createStore(geometry);
        let kl = 0;
        let agree = 0;
        let nll = 0;
        let held = 0;
        let evicted = 0;
        let evictions = 0;
        try {
          const policy = new DecodeEviction(backend, store, { method, maxTokensPerHead: limit, every, options: methodOptions, outputProjection });
          const { observations } = await forward.prefill(tokens.slice(0, prefill), store);
          await policy.afterPrefill(observations);
          for (let j = 0; j < continuation; j++) {
            options.signal?.throwIfAborted();
            const q = logSoftmax(await forward.decode(tokens[prefill + j]!, prefill + j, store));
            const step = compareStep(reference[j]!, q, tokens[prefill + j + 1]!);
            kl += step.kl;
            agree += step.agrees;
            nll += step.nllDelta;
            await policy.afterStep(prefill + j);
            held += entriesPerHead(store);
          }
          evicted = policy.evictedTokens;
          evictions = policy.evictions;
        } finally {
          store.dispose();
        }
        const key = `${method}\u0000${limit}`;
        const list = samples.get(key) ?? [];
        list.push({
          kl: kl / continuation,
          agreement: agree / continuation,
          nllDelta: nll / continuation,
          evictedPerStep: evicted / continuation,
          evictionsPerStep: evictions / continuation,
          meanCacheTokens: held / continuation,
        });
        samples.set(key, list);
        progress(`segment ${s + 1}: ${method} @ ${limit}`);
      }
    }
  }
  const rows = [...samples.entries()].map(([key, list]): DecodeFidelityRow => {
    const [method, limit] = key.split('\u0000') as [string, string];
    const of = (field: keyof Sample) => spread(list.map((x) => x[field]));
    return {
      method,
      limit: Number(limit),
      kl: of('kl'),
      agreement: of('agreement'),
      nllDelta: of('nllDelta'),
      evictedPerStep: of('evictedPerStep'),
      evictionsPerStep: of('evictionsPerStep'),
      meanCacheTokens: of('meanCacheTokens'),
    };
  });
  return { settings: { segments: segments.length, prefill, continuation, every, options: methodOptions }, rows };
}
