import type { Method } from './types.js';

/**
 * Ada-KV (Feng et al., 2024, arXiv 2407.11550) as a wrapper over any method: the same scorer and
 * layer schedule, but each layer's budget is split across heads by the flattened top-k of their
 * scores, with the alpha safeguard. Reads the wrapped method's options and `alpha`.
 */
export function adaptive(method: Method): Method {
  if (method.scorer === null) return method; // nothing is evicted, nothing to split
  return {
    ...method,
    name: `ada-${method.name}`,
    summary: `${method.summary.replace(/\.$/, '')}; budget split across heads adaptively (Ada-KV).`,
    paper: `Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for Efficient LLM Inference, arXiv 2407.11550 (over ${method.paper})`,
    allocation: 'adaptive',
  };
}
