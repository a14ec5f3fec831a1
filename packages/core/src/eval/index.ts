export type { TextEvaluationOptions } from './text-evaluation.js';
export { type Spread, klDivergence, logSoftmax, negativeLogLikelihood, spread } from './distributions.js';
export { type FidelityOptions, type FidelityReport, type FidelityRow, evaluateFidelity } from './fidelity.js';
export {
  type DecodeFidelityOptions,
  type DecodeFidelityReport,
  type DecodeFidelityRow,
  evaluateDecodeEviction,
} from './decode-fidelity.js';
export {
  EVICTION_BASELINE,
  KV_BYTES_STRATEGIES,
  type KvBytesOptions,
  type KvBytesReport,
  type KvBytesRow,
  type KvBytesStrategy,
  evaluateKvBytes,
} from './kv-bytes.js';
