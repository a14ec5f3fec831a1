import { type BudgetSpec, resolveBudget } from '../budget.js';
import { BudgetError, ContextOverflowError, OptionError } from '../errors.js';
import { getMethod } from '../methods/registry.js';
import { resolveMethodOptions } from '../methods/options.js';
import type { MethodName, MethodOptions } from '../methods/registry.js';
import { attentionOutputL1 } from '../metrics/attention-output-l1.js';
import { planKvBytes } from '../metrics/kv-bytes.js';
import { retainedMass } from '../metrics/retained-mass.js';
import { cacheGeometry } from '../model/config.js';
import type { LayerObservation } from '../model/observation.js';
import { applyPlan } from '../plan.js';
import type { KvStore } from '../store.js';
import type { Backend } from '../backends/backend.js';
import { ReferenceBackend } from '../backends/reference/index.js';
import { modelOutputProjection } from '../scorers/output-projection.js';
import { type Spread, spread } from './distributions.js';
import { compareContinuation, teacherForce } from './teacher-forcing.js';
import type { TextEvaluationOptions } from './text-evaluation.js';

/** What {@link evaluateFidelity} runs: the model, the text, and the methods crossed with the budgets. */
export interface FidelityOptions extends TextEvaluationOptions {
  /** Methods to compare. */
  readonly methods: readonly MethodName[];
  /** Budgets to compare (tokens per KV head, or ratios of the prefill). */
  readonly budgets: readonly BudgetSpec[];
  /** Prompt tokens prefilled, then compressed (default 192). */
  readonly prefill?: number;
  /** Tokens teacher-forced through the compressed cache afterwards (default 64). */
  readonly continuation?: number;
  /** Method options for every method, over `{ window: 16 }` (the reference's 32 is meant for prompts of thousands of tokens). */
  readonly options?: Partial<MethodOptions>;
  /** Where the model, its K/V and the planning run (default: the reference backend). */
  readonly backend?: Backend;
}

/** One (method, budget) of a fidelity report, each figure spread over the segments. */
export interface FidelityRow {
  /** The method's name. */
  readonly method: string;
  /** Tokens per KV head, window included. */
  readonly budget: number;
  /** Mean KL(full || compressed) of the next-token distributions over the continuation (nats). */
  readonly kl: Spread;
  /** Share of continuation positions where the compressed cache predicts the full cache's top token. */
  readonly agreement: Spread;
  /** Change of the mean negative log-likelihood of the real next tokens (nats; > 0 = worse). */
  readonly nllDelta: Spread;
  /** At compression time: attention-output L1 loss and retained attention mass (means over layers and heads). */
  readonly attentionL1: Spread;
  /** Attention mass the kept entries hold (means over layers and heads). */
  readonly retainedMass: Spread;
  /** f32 K/V bytes kept right after compression, and with the full cache. */
  readonly kvBytes: number;
  /** f32 K/V bytes of the full cache. */
  readonly fullKvBytes: number;
}

/** What {@link evaluateFidelity} measured, with the settings it ran with. */
export interface FidelityReport {
  /** The settings as resolved. */
  readonly settings: {
    /** Text segments averaged over. */
    readonly segments: number;
    /** Prompt tokens prefilled, then compressed. */
    readonly prefill: number;
    /** Tokens teacher-forced through the compressed cache. */
    readonly continuation: number;
    /** Method options for every method. */
    readonly options: Partial<MethodOptions>;
  };
  /** One row per (method, budget). */
  readonly rows: readonly FidelityRow[];
}

interface Sample {
  kl: number;
  agreement: number;
  nllDelta: number;
  attentionL1: number;
  retainedMass: number;
  kvBytes: number;
  fullKvBytes: number;
}

/** Refuses up front what planning would refuse only after the first prefill. */
function checkMethodSettings(name: string, overrides: Partial<MethodOptions>, budgets: readonly number[], prefill: number): void {
  const method = getMethod(name);
  const { window } = resolveMethodOptions(method, overrides);
  if (method.scorer === null) return;
  // planning would keep everything for such a prompt (a skipped plan): every row would be the full cache
  if (window >= prefill) {
    throw new OptionError(
      `The observation window (${window} tokens) is not shorter than the prefill (${prefill} tokens), so nothing would be scored or evicted ` +
        'and every row would equal the full cache; lower the window or prefill more.',
    );
  }
  const tooSmall = budgets.filter((b) => b < window);
  if (tooSmall.length > 0) {
    throw new BudgetError(
      `Budgets ${tooSmall.join(', ')} tokens per head cannot hold the observation window of ${window} tokens, which is always kept; ` +
        `use budgets of at least ${window} or a smaller window.`,
    );
  }
}

function fill(store: KvStore, observations: readonly LayerObservation[], n: number): void {
  const positions = Int32Array.from({ length: n }, (_, t) => t);
  observations.forEach((o, layer) => store.append(layer, o.keys, o.values, positions));
}


/**
 * How faithful a model stays with a compressed cache, on real text: per segment, prefill `prefill`
 * tokens once, teacher-force `continuation` tokens with the full cache, then for every method x
 * budget start again from the same prefill, compress, and teacher-force the same tokens. Reports
 * mean and spread over segments.
 */
export async function evaluateFidelity(options: FidelityOptions): Promise<FidelityReport> {
  const { model, segments, methods, budgets } = options;
  const prefill = options.prefill ?? 192;
  const continuation = options.continuation ?? 64;
  const methodOptions: Partial<MethodOptions> = { window: 16, ...options.options };
  const backend = options.backend ?? new ReferenceBackend();
  if (!Number.isInteger(prefill) || prefill < 2) throw new OptionError(`prefill must be a whole number >= 2, got ${prefill}.`);
  if (!Number.isInteger(continuation) || continuation < 1) throw new OptionError(`continuation must be >= 1, got ${continuation}.`);
  if (prefill + continuation > model.config.contextLength) {
    throw new ContextOverflowError(
      `prefill ${prefill} + continuation ${continuation} exceed the model's context of ${model.config.contextLength}.`,
    );
  }
  if (segments.length === 0) throw new OptionError('Give at least one segment of text.');
  const short = segments.findIndex((s) => s.length < prefill + continuation + 1);
  if (short >= 0) throw new OptionError(`Segment ${short} has ${segments[short]!.length} tokens; each needs prefill + continuation + 1.`);
  if (methods.length === 0 || budgets.length === 0) throw new OptionError('Give at least one method and one budget.');
  // budgets that resolve to the same tokens per head would be one row measured twice
  const tokenBudgets = [...new Set(budgets.map((b) => resolveBudget(b, prefill)))];
  for (const name of methods) checkMethodSettings(name, methodOptions, tokenBudgets, prefill);

  const geometry = cacheGeometry(model.config);
  const outputProjection = modelOutputProjection(model);
  const samples = new Map<string, Sample[]>();
  const configurations = methods.reduce((sum, m) => sum + (getMethod(m).scorer === null ? 1 : tokenBudgets.length), 0);
  const total = segments.length * (1 + configurations);
  let done = 0;
  const progress = (label: string) => options.onProgress?.(++done, total, label);

  for (const [s, tokens] of segments.entries()) {
    options.signal?.throwIfAborted();
    const forward = backend.forwardPass(model);
    const fullStore = backend.createStore(geometry);
    let observations: readonly LayerObservation[];
    let reference: Float64Array[];
    try {
      ({ observations } = await forward.prefill(tokens.slice(0, prefill), fullStore));
      reference = await teacherForce(forward, fullStore, tokens, prefill, continuation, options.signal);
    } finally {
      fullStore.dispose();
    }
    progress(`segment ${s + 1}: full cache`);
    for (const method of methods) {
      // a method that evicts nothing gives the same row at every budget: run it once
      for (const budget of getMethod(method).scorer === null ? [prefill] : tokenBudgets) {
        const plan = await backend.plan({ method, geometry, observations, budget, options: methodOptions, outputProjection });
        const store = backend.createStore(geometry);
        let predicted: Float64Array[];
        try {
          fill(store, observations, prefill);
          applyPlan(store, plan);
          predicted = await teacherForce(forward, store, tokens, prefill, continuation, options.signal);
        } finally {
          store.dispose();
        }
        const compared = compareContinuation(reference, predicted, tokens, prefill);
        const bytes = planKvBytes(plan, geometry.headDim);
        const key = `${method}\u0000${plan.budget}`;
        const list = samples.get(key) ?? [];
        list.push({
          ...compared,
          attentionL1: attentionOutputL1(geometry, observations, plan).mean,
          retainedMass: retainedMass(geometry, observations, plan).mean,
          kvBytes: bytes.kept,
          fullKvBytes: bytes.full,
        });
        samples.set(key, list);
        progress(`segment ${s + 1}: ${method} @ ${plan.budget}`);
      }
    }
  }
  const rows = [...samples.entries()].map(([key, list]): FidelityRow => {
    const [method, budget] = key.split('\u0000') as [string, string];
    const of = (field: keyof Sample) => spread(list.map((x) => x[field]));
    return {
      method,
      budget: Number(budget),
      kl: of('kl'),
      agreement: of('agreement'),
      nllDelta: of('nllDelta'),
      attentionL1: of('attentionL1'),
      retainedMass: of('retainedMass'),
      kvBytes: of('kvBytes').mean,
      fullKvBytes: of('fullKvBytes').mean,
    };
  });
  return { settings: { segments: segments.length, prefill, continuation, options: methodOptions }, rows };
}
