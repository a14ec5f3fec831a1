/// <reference types="@webgpu/types" />
export { alignTo } from './uniforms.js';
export { GpuError, type GpuErrorCode } from './errors.js';
export { type GpuContext, assertAlive, isSoftwareAdapter, largestStorageBuffer, requestGpu } from './device.js';
export { PipelineCache, type Program, type UniformField, type UniformType, type UniformValues, packUniforms, workgroupsFor } from './program.js';
export { PROGRAMS } from './programs.js';
export { Dispatcher, type DispatchGrid, type KernelName, type StagedRead, type UniformsOf } from './dispatcher.js';
export { GpuPagedCache } from './paged-cache.js';
export { GpuMixedCache, type MixedCacheShape, type MixedPoolSource } from './mixed-cache.js';
export { GpuKvPool, type GpuKvFormat, type GpuKvPoolOptions, type GpuKvPoolStats, gpuKvBlockBytes } from './kv-pool.js';
export type { EvictionOptions } from './eviction.js';
export { MAX_COUNT_HEADS, type WindowScoreOptions, adaptiveCounts, encodeAdaptiveCounts, windowScores } from './scores.js';
export { type DecodeCache, GpuLlamaDecoder, type LlamaLayerWeights, type LlamaPrefill, type LlamaPrefillOptions, type LlamaShape, type LlamaWeights } from './llama-decoder.js';
export { encodeSelectTopK, selectTopK } from './selection.js';
export { MAX_CAUSAL_TOKENS, argmax, encodeArgmax, encodeCausalAttention, encodeMatmul, encodeMatvec, encodeSoftmax, matmul, readArgmax, readArgmaxRows, softmaxRows } from './model-ops.js';
