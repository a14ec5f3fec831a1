/// <reference types="@webgpu/types" />
export { alignTo } from './uniforms.js';
export { GpuError, type GpuErrorCode } from './errors.js';
export { type GpuContext, assertAlive, isSoftwareAdapter, largestStorageBuffer, requestGpu } from './device.js';
export { PipelineCache, type Program, type UniformField, packUniforms, workgroupsFor } from './program.js';
export { PROGRAMS } from './programs.js';
export { Dispatcher, type KernelName, type StagedRead } from './dispatcher.js';
export { GpuPagedCache, type PagedCacheShape } from './paged-cache.js';
export { type WindowScoreOptions, adaptiveCounts, windowScores } from './scores.js';
export { GpuLlamaDecoder, type LlamaLayerWeights, type LlamaPrefill, type LlamaShape, type LlamaWeights } from './llama-decoder.js';
export { selectTopK } from './selection.js';
export { MAX_CAUSAL_TOKENS, argmax, encodeArgmax, encodeCausalAttention, encodeMatmul, encodeMatvec, encodeSoftmax, matmul, softmaxRows } from './model-ops.js';
