export * from './errors.js';
export * from './geometry.js';
export type { KvStore, RecentQueries } from './store.js';
export * from './backends/index.js';
export { type GpuContext, isSoftwareAdapter, requestGpu } from '@adakv/gpu';
export type { PoolStats } from '@adakv/allocator-wasm';
export * from './model/index.js';
export { type BudgetSpec, resolveBudget } from './budget.js';
export type { CompressionPlan, LayerPlan } from './compression-plan.js';
export { type CompressionRequest, type PlanInput, type RequestOptions, applyPlan, compress, planCompression } from './plan.js';
export type { Allocation, DecodeScores, LayerSchedule, Method, MethodOptionSpecs, ResolvedMethodOptions } from './methods/types.js';
export { type MethodDefinition, defineMethod } from './methods/define-method.js';
export { type OptionSpec, type OptionSpecs, type OptionValues, option } from './methods/option-spec.js';
export {
  alphaOption,
  betaOption,
  blockSizeOption,
  groupReduceOption,
  kernelSizeOption,
  maxEvictPerStepOption,
  poolingOption,
  sinksOption,
  windowOption,
} from './methods/option-specs.js';
export { type MethodOverrides, type OptionsOf, resolveMethodOptions } from './methods/options.js';
export {
  DEFAULT_METHOD_OPTIONS,
  type MethodName,
  type MethodOptions,
  type RegisteredMethod,
  getMethod,
  isMethodName,
  listMethods,
  methodNames,
  registeredOptions,
} from './methods/registry.js';
export { type AdaptiveOptionSpecs, adaptive } from './methods/ada-kv.js';
export { kvcompress } from './methods/kvcompress.js';
export { random as randomEviction, seedOption } from './methods/random.js';
export { critiSnapkv, epsilonOption, firstStageRatioOption } from './methods/criti-snapkv.js';
export type { GroupReduce, HeadContext, Pooling, Scorer, ScorerInput, ScorerOptions } from './scorers/types.js';
export { type SquaredAttentionScorerOptions, squaredAttentionScorer } from './scorers/squared-attention.js';
export { type RandomScorerOptions, randomDraw, randomScorer } from './scorers/random.js';
export { type CriticalScorerOptions, criticalScorer } from './scorers/criticalkv.js';
export {
  type OutputProjection,
  headOutputProjection,
  modelOutputProjection,
  projectedValueNorms,
} from './scorers/output-projection.js';
export { type SnapkvScorerOptions, snapkvScorer } from './scorers/snapkv.js';
export { type H2oScorerOptions, h2oScorer } from './scorers/h2o.js';
export { type StreamingScorerOptions, streamingScorer } from './scorers/streaming.js';
export { keyNormScorer } from './scorers/key-norm.js';
export { attentionProbabilities } from './scorers/attention-probabilities.js';
export { observationHeadContext, observationHeadValues, observedLength } from './scorers/observation-context.js';
export { pyramidLayerBudgets, pyramidSchedule } from './layer-budgets/pyramid.js';
export { uniformLayerBudgets } from './layer-budgets/uniform.js';
export { adaptiveAllocation } from './allocation/adaptive.js';
export { type JointEvictionLimits, type JointEvictionResult, type JointHead, jointEviction, jointKeptIndices } from './allocation/joint.js';
export { uniformAllocation } from './allocation/uniform.js';
export { roundHalfEven } from './allocation/round-half-even.js';
export { DecodeEviction, type DecodeEvictionOptions } from './decode/decode-eviction.js';
export { EntryScores } from './decode/entry-scores.js';
export * from './scheduler/index.js';
export { formatBytes } from './format-bytes.js';
export * from './metrics/index.js';
export * from './eval/index.js';
export { DEMO_PROMPT } from './demo-prompt.js';
export {
  type ByteFraction,
  type BytePlan,
  type BytePlanCandidate,
  type BytePlanInput,
  type HeadKv,
  type HeadRows,
  type KvByteBudget,
  type QuantizeHeadRowsOptions,
  type StoreForBytes,
  type HeldOutReference,
  type HeadFormats,
  type HeadOption,
  bytesPerBlock,
  chooseHeadOptions,
  describeBytePlan,
  formatMix,
  headOutputL1s,
  heldBytes,
  keptOutputL1,
  DEFAULT_BYTE_METHOD,
  parseByteFraction,
  parseKvBytes,
  planForBytes,
  quantizeHeadRows,
  readHeadKv,
  storeForBytes,
  storeKeptRows,
  heldOutReference,
} from './quantization/index.js';
