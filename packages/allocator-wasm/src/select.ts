import type { Allocator } from './allocator.js';
import { AllocatorError, check } from './errors.js';

/** What {@link selectAdaptive} returns. */
export interface AdaptiveSelection {
  /** Tokens each head keeps (before adding the observation window). */
  caps: Int32Array;
  /** Per head, the kept prefix indices, ascending. */
  kept: Int32Array[];
  /** Sum of caps: may differ from heads x selectable by a few tokens because of rounding. */
  total: number;
}

/**
 * Ada-KV selection for one layer, in WebAssembly: the top `heads x selectable` of the flattened scores
 * `[heads][prefixLength]` fix how many tokens each head keeps, with the safeguard
 * `cap_h = roundHalfEven(c_h (1 - alpha) + floor(selectable alpha))`; each head keeps its own top cap_h.
 * Ties: higher score, then lower head, then lower token index. alpha = 1 is uniform (top `selectable`
 * per head); `selectable >= prefixLength` keeps everything.
 */
export function selectAdaptive(
  allocator: Allocator,
  scores: Float32Array,
  heads: number,
  selectable: number,
  alpha: number,
): AdaptiveSelection {
  if (!Number.isInteger(heads) || heads <= 0 || scores.length % heads !== 0) {
    throw new AllocatorError('INVALID_ARGUMENT', `selectAdaptive: scores (${scores.length} floats) must be [heads = ${heads}][prefixLength].`);
  }
  if (!Number.isInteger(selectable) || selectable < 0) {
    throw new AllocatorError('INVALID_ARGUMENT', `selectAdaptive: selectable must be a non-negative integer, got ${selectable}.`);
  }
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new AllocatorError('INVALID_ARGUMENT', `selectAdaptive: alpha must lie in [0, 1], got ${alpha}.`);
  }
  const prefixLength = scores.length / heads;
  const [s, caps, indices] = allocator.scratch.regions(scores.length * 4, heads * 4, scores.length * 4) as [number, number, number];
  allocator.f32(s, scores.length).set(scores);
  const total = check(allocator.exports.adakv_select_adaptive(s, heads, prefixLength, selectable, alpha, caps, indices), 'selectAdaptive');
  const capView = allocator.i32(caps, heads).slice();
  const all = allocator.i32(indices, total);
  const kept: Int32Array[] = [];
  let offset = 0;
  for (let h = 0; h < heads; h++) {
    kept.push(all.slice(offset, offset + capView[h]!));
    offset += capView[h]!;
  }
  return { caps: capView, kept, total };
}
