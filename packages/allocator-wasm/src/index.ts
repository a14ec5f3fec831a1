export { Allocator, loadAllocator, type InstantiateOptions } from './allocator.js';
export type { AllocatorExports } from './abi.js';
export { BlockPool, DEFAULT_BLOCK_SIZE, type BlockPoolOptions, type FlatLayerView } from './block-pool.js';
export { Engine, relaxedSimdSupported, type EngineOptions, type EngineVariant } from './engine.js';
export { AllocatorError, type AllocatorErrorCode } from './errors.js';
export { INT4_GROUP, KV_FORMATS, kvBlockBytes, type KvFormat } from './kv-format.js';
export { bf16ToFloat, dequantizeTensor, floatToBf16, floatToHalf, halfToFloat, quantizeTensor } from './quantize.js';
export { selectAdaptive, type AdaptiveSelection } from './select.js';
export type { PoolStats, SequenceStats } from './stats.js';
export { TENSOR_TYPES, TENSOR_TYPE_IDS, blockWeights, bytesPerWeight, tensorByteLength, type TensorType } from './tensor-formats.js';
export {
  WasmModel,
  type DecodeStep,
  type EngineDecodeResult,
  type EngineLayerObservation,
  type EngineLayerWeights,
  type EngineModelConfig,
  type EngineModelWeights,
  type EnginePrefillOptions,
  type EnginePrefillResult,
  type EngineRopeStyle,
  type EngineTensor,
  type ModelLoadOptions,
  type TypedTensor,
} from './wasm-model.js';
export { defaultRelaxedThreadsWasmUrl, defaultRelaxedWasmUrl, defaultThreadsWasmUrl, defaultWasmUrl, type WasmSource } from './wasm-source.js';

/** Blocks needed to hold `tokens` entries of one head. */
export function blocksFor(tokens: number, blockSize = 16): number {
  return Math.ceil(tokens / blockSize);
}
