import type { OptionSpec } from './option-spec.js';
import { defaultValues } from './option-spec.js';
import { alphaOption } from './option-specs.js';
import type { Method, MethodOptionSpecs } from './types.js';

/** What {@link adaptive} adds to a method's options. */
export type AdaptiveOptionSpecs = {
  /** Ada-KV's safeguard: the share of each head's budget guaranteed to it (default 0.2; 1 = uniform split). */
  readonly alpha: OptionSpec<number>;
};

/**
 * Ada-KV (Feng et al., 2024, arXiv 2407.11550) as a wrapper over any method: the same scorer and
 * layer schedule, but each layer's budget is split across heads by the flattened top-k of their
 * scores, with the `alpha` safeguard. Reads the wrapped method's options and `alpha`. A method
 * that evicts nothing (no scorer) is returned as it is.
 */
export function adaptive<
  M extends Method & {
    /** No scorer: the method evicts nothing. */
    readonly scorer: null;
  },
>(method: M): M;
export function adaptive<Name extends string, Specs extends MethodOptionSpecs>(
  method: Method<Name, Specs>,
): Method<`ada-${Name}`, Specs & AdaptiveOptionSpecs>;
export function adaptive(method: Method): Method {
  if (method.scorer === null) return method; // nothing is evicted, nothing to split
  const options = Object.freeze({ ...method.options, alpha: alphaOption });
  return Object.freeze({
    ...method,
    name: `ada-${method.name}`,
    summary: `${method.summary.replace(/\.$/, '')}; budget split across heads adaptively (Ada-KV).`,
    paper: `Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for Efficient LLM Inference, arXiv 2407.11550 (over ${method.paper})`,
    allocation: 'adaptive' as const,
    options,
    defaults: defaultValues(options),
  });
}
