import type { HeadContext, Scorer } from './types.js';

/** What the StreamingLLM scorer reads of its method's options. */
export interface StreamingScorerOptions {
  /** Attention sinks: the first `sinks` entries, always kept. */
  readonly sinks: number;
}

/** Largest finite f32: sinks outrank every position yet stay finite, as every backend requires. */
const SINK_SCORE = 3.4028234663852886e38;

/**
 * StreamingLLM (Xiao et al., 2023, arXiv 2309.17453): attention sinks (the first `sinks` positions)
 * score highest, then recency, so a top-k keeps the sinks plus the most recent entries.
 */

export const streamingScorer: Scorer<StreamingScorerOptions> = {
  name: 'streaming',
  score(head: HeadContext, options: StreamingScorerOptions): Float32Array {
    const selectable = head.positions.length - head.protectedCount;
    return Float32Array.from({ length: selectable }, (_, t) => {
      const position = head.positions[t]!;
      return position < options.sinks ? SINK_SCORE : position;
    });
  },
};
