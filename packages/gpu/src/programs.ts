import adaptiveCounts from './kernels/adaptive-counts.wgsl';
import attentionReduce from './kernels/attention-reduce.wgsl';
import gatherRows from './kernels/gather-rows.wgsl';
import pagedAttention from './kernels/paged-attention.wgsl';
import pool1d from './kernels/pool1d.wgsl';
import scatterRows from './kernels/scatter-rows.wgsl';
import windowAttention from './kernels/window-attention.wgsl';
import causalAttention from './kernels/causal-attention.wgsl';
import causalContiguous from './kernels/causal-contiguous.wgsl';
import causalPaged from './kernels/causal-paged.wgsl';
import windowReduce from './kernels/window-reduce.wgsl';
import matvec from './kernels/matvec.wgsl';
import matvecBatch from './kernels/matvec-batch.wgsl';
import rmsnorm from './kernels/rmsnorm.wgsl';
import rope from './kernels/rope.wgsl';
import ropeBase from './kernels/rope-base.wgsl';
import ropeRows from './kernels/rope-rows.wgsl';
import ropeAdjacent from './kernels/rope-adjacent.wgsl';
import ropeNeox from './kernels/rope-neox.wgsl';
import biasAdd from './kernels/bias-add.wgsl';
import elementwise from './kernels/elementwise.wgsl';
import topkSelect from './kernels/topk-select.wgsl';
import matmul from './kernels/matmul.wgsl';
import softmax from './kernels/softmax.wgsl';
import argmax from './kernels/argmax.wgsl';
import kvF16 from './kernels/kv-f16.wgsl';
import kvF32 from './kernels/kv-f32.wgsl';
import kvInt8Layout from './kernels/kv-int8.wgsl';
import kvInt4Layout from './kernels/kv-int4.wgsl';
import kvQuantized from './kernels/kv-quantized.wgsl';
import kvEncode from './kernels/kv-encode.wgsl';
import kvReadRows from './kernels/kv-read-rows.wgsl';
import workgroupReduce from './kernels/workgroup-reduce.wgsl';
import radixSelect from './kernels/radix-select.wgsl';
import recentAttention from './kernels/recent-attention.wgsl';
import recentReduce from './kernels/recent-reduce.wgsl';
import adaptiveCaps from './kernels/adaptive-caps.wgsl';
import type { Program, UniformField } from './program.js';

const kvInt8 = kvInt8Layout + kvQuantized;
const kvInt4 = kvInt4Layout + kvQuantized;

const program = (name: string, source: string, workgroupSize: number): Program => ({ name, source, cacheKey: name, workgroupSize });

/** Every kernel with the fields of its uniform struct, in declaration order. */
export const PROGRAMS = {
  /**
   * Flash-decoding pass 1 over f32 K/V blocks: per (split, KV head, sequence), a partial softmax state of
   * the group's query heads.
   */
  pagedAttention: {
    /** The kernel. */
    program: program('paged-attention', kvF32 + pagedAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad0', 'u32']] as const,
  },
  /**
   * Flash-decoding pass 2: each query head combines its splits' partial states into softmax(q K^T /
   * sqrt(d)) V.
   */
  attentionReduce: {
    /** The kernel. */
    program: program('attention-reduce', attentionReduce, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['splits', 'u32'], ['queryHeads', 'u32'], ['_pad', 'u32']] as const,
  },
  /** Writes f32 K/V rows at their block-table slots (append). */
  scatterRows: {
    /** The kernel. */
    program: program('scatter-rows', kvF32 + scatterRows, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as const,
  },
  /** Copies K/V row slots from one buffer to another (compaction). */
  gatherRows: {
    /** The kernel. */
    program: program('gather-rows', gatherRows, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as const,
  },
  /**
   * SnapKV scores, pass 1: the observation window's queries attend causally over all keys; prefix
   * probabilities out.
   */
  windowAttention: {
    /** The kernel. */
    program: program('window-attention', workgroupReduce + windowAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['window', 'u32'], ['scale', 'f32']] as const,
  },
  /** Prefill attention: every prompt token over the keys at or before it. */
  causalAttention: {
    /** The kernel. */
    program: program('causal-attention', causalContiguous + causalAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32']] as const,
  },
  /**
   * Chunked prefill attention: a chunk's query rows at positions `start + t` over one sequence's f32 paged
   * K/V (its first `start + tokens` rows, the chunk's already appended), causal by position.
   */
  pagedCausalAttention: {
    /** The kernel. */
    program: program('paged-causal-attention', kvF32 + causalPaged + causalAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32'], ['start', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32']] as const,
  },
  /** {@link PROGRAMS.pagedCausalAttention} over f16 K/V blocks. */
  pagedCausalAttentionF16: {
    /** The kernel. */
    program: program('paged-causal-attention-f16', kvF16 + causalPaged + causalAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32'], ['start', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32']] as const,
  },
  /** SnapKV scores, pass 2: mean over the window rows, then the GQA reduce over each group. */
  windowReduce: {
    /** The kernel. */
    program: program('window-reduce', windowReduce, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['queryHeads', 'u32'], ['kvHeads', 'u32'], ['window', 'u32'], ['prefix', 'u32'], ['groupMax', 'u32']] as const,
  },
  /** SnapKV scores, pass 3: 1-D max or average pooling along each head's scores. */
  pool1d: {
    /** The kernel. */
    program: program('pool1d', pool1d, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['length', 'u32'], ['kernelSize', 'u32'], ['average', 'u32']] as const,
  },
  /** Ada-KV's per-head counts of a layer's flattened top-k scores, by radix select. */
  adaptiveCounts: {
    /** The kernel. */
    program: program('adaptive-counts', radixSelect + adaptiveCounts, 256),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['length', 'u32'], ['k', 'u32']] as const,
  },
  /** out = W x for one vector (decode of one sequence). */
  matvec: {
    /** The kernel. */
    program: program('matvec', matvec, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['inDim', 'u32'], ['outDim', 'u32'], ['weightOffset', 'u32'], ['lanes', 'u32']] as const,
  },
  /** out[r] = W x[r] for the vectors of a decode batch. */
  matvecBatch: {
    /** The kernel. */
    program: program('matvec-batch', matvecBatch, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['inDim', 'u32'], ['outDim', 'u32'], ['weightOffset', 'u32'], ['lanes', 'u32'], ['rows', 'u32']] as const,
  },
  /** RMS normalization of each row, times the weight, as llama2.c computes it. */
  rmsnorm: {
    /** The kernel. */
    program: program('rmsnorm', workgroupReduce + rmsnorm, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['dim', 'u32'], ['weightOffset', 'u32'], ['eps', 'f32'], ['rows', 'u32']] as const,
  },
  /** RoPE on adjacent pairs `(2j, 2j + 1)` of a prompt's tokens at consecutive positions. */
  rope: {
    /** The kernel. */
    program: program('rope', ropeBase + ropeAdjacent + rope, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as const,
  },
  /** RoPE on adjacent pairs of a batch of sequences, each row at its own position. */
  ropeRows: {
    /** The kernel. */
    program: program('rope-rows', ropeRows + ropeAdjacent + rope, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as const,
  },
  /** {@link PROGRAMS.rope} on rotate-half pairs `(j, j + headDim / 2)` (NeoX style, Qwen 2). */
  ropeNeox: {
    /** The kernel. */
    program: program('rope-neox', ropeBase + ropeNeox + rope, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as const,
  },
  /** {@link PROGRAMS.ropeRows} on rotate-half pairs `(j, j + headDim / 2)` (NeoX style, Qwen 2). */
  ropeRowsNeox: {
    /** The kernel. */
    program: program('rope-rows-neox', ropeRows + ropeNeox + rope, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as const,
  },
  /** Adds a bias of `width` to every row of a vector in place (the Q/K/V projection biases). */
  addBias: {
    /** The kernel. */
    program: program('bias-add', biasAdd, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['length', 'u32'], ['width', 'u32']] as const,
  },
  /** In place on a vector: adds the residual (op 0) or applies SwiGLU (op 1). */
  elementwise: {
    /** The kernel. */
    program: program('elementwise', elementwise, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['length', 'u32'], ['op', 'u32']] as const,
  },
  /** Per-head top-k: the indices of each head's best scores, in ascending order. */
  topkSelect: {
    /** The kernel. */
    program: program('topk-select', radixSelect + topkSelect, 256),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32']] as const,
  },
  /** A tiled matrix product with the transposed weights (prefill). */
  matmul: {
    /** The kernel. */
    program: program('matmul', matmul, 256),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['rows', 'u32'], ['inDim', 'u32'], ['outDim', 'u32'], ['accumulate', 'u32']] as const,
  },
  /** Row-wise softmax in place, numerically stable. */
  softmax: {
    /** The kernel. */
    program: program('softmax', workgroupReduce + softmax, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['rows', 'u32'], ['length', 'u32']] as const,
  },
  /** The index of the largest value of each row (greedy decoding). */
  argmax: {
    /** The kernel. */
    program: program('argmax', argmax, 256),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['length', 'u32'], ['rows', 'u32']] as const,
  },
  /** {@link PROGRAMS.pagedAttention} over f16 K/V blocks. */
  pagedAttentionF16: {
    /** The kernel. */
    program: program('paged-attention-f16', kvF16 + pagedAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad0', 'u32']] as const,
  },
  /** {@link PROGRAMS.scatterRows} into f16 K/V blocks. */
  scatterRowsF16: {
    /** The kernel. */
    program: program('scatter-rows-f16', kvF16 + scatterRows, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as const,
  },
  /**
   * Decode-time eviction scores, pass 1: the recorded recent queries attend over their KV head's f32
   * blocks.
   */
  recentAttention: {
    /** The kernel. */
    program: program('recent-attention', kvF32 + workgroupReduce + recentAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['rows', 'u32'], ['ringRows', 'u32'], ['firstSlot', 'u32'], ['maxLength', 'u32'], ['scale', 'f32']] as const,
  },
  /** {@link PROGRAMS.recentAttention} over f16 K/V blocks. */
  recentAttentionF16: {
    /** The kernel. */
    program: program('recent-attention-f16', kvF16 + workgroupReduce + recentAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['rows', 'u32'], ['ringRows', 'u32'], ['firstSlot', 'u32'], ['maxLength', 'u32'], ['scale', 'f32']] as const,
  },
  /**
   * {@link PROGRAMS.pagedAttention} over int8 K/V blocks (a head's partly filled last block read from
   * its f32 residual rows, bindings 7 and 8).
   */
  pagedAttentionInt8: {
    /** The kernel. */
    program: program('paged-attention-int8', kvInt8 + pagedAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad0', 'u32']] as const,
  },
  /** {@link PROGRAMS.pagedCausalAttention} over int8 K/V blocks (residual rows at bindings 7 and 8). */
  pagedCausalAttentionInt8: {
    /** The kernel. */
    program: program('paged-causal-attention-int8', kvInt8 + causalPaged + causalAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32'], ['start', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32']] as const,
  },
  /** {@link PROGRAMS.recentAttention} over int8 K/V blocks (residual keys at binding 7). */
  recentAttentionInt8: {
    /** The kernel. */
    program: program('recent-attention-int8', kvInt8 + workgroupReduce + recentAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['rows', 'u32'], ['ringRows', 'u32'], ['firstSlot', 'u32'], ['maxLength', 'u32'], ['scale', 'f32']] as const,
  },
  /**
   * Encodes filled (or, after compaction, partly filled) int8 K/V blocks from f32 rows, with the WASM
   * pool's arithmetic: one workgroup per block.
   */
  encodeBlocksInt8: {
    /** The kernel. */
    program: program('kv-encode-int8', kvInt8 + kvEncode, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['blockSize', 'u32'], ['jobs', 'u32'], ['_pad0', 'u32']] as const,
  },
  /** Reads rows of int8 K/V blocks (or their residual rows) as f32. */
  readRowsInt8: {
    /** The kernel. */
    program: program('kv-read-rows-int8', kvInt8 + kvReadRows, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['blockSize', 'u32'], ['rows', 'u32'], ['_pad0', 'u32']] as const,
  },
  /**
   * {@link PROGRAMS.pagedAttention} over int4 K/V blocks (a head's partly filled last block read from
   * its f32 residual rows, bindings 7 and 8).
   */
  pagedAttentionInt4: {
    /** The kernel. */
    program: program('paged-attention-int4', kvInt4 + pagedAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad0', 'u32']] as const,
  },
  /** {@link PROGRAMS.pagedCausalAttention} over int4 K/V blocks (residual rows at bindings 7 and 8). */
  pagedCausalAttentionInt4: {
    /** The kernel. */
    program: program('paged-causal-attention-int4', kvInt4 + causalPaged + causalAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32'], ['start', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32']] as const,
  },
  /** {@link PROGRAMS.recentAttention} over int4 K/V blocks (residual keys at binding 7). */
  recentAttentionInt4: {
    /** The kernel. */
    program: program('recent-attention-int4', kvInt4 + workgroupReduce + recentAttention, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['rows', 'u32'], ['ringRows', 'u32'], ['firstSlot', 'u32'], ['maxLength', 'u32'], ['scale', 'f32']] as const,
  },
  /**
   * Encodes filled (or, after compaction, partly filled) int4 K/V blocks from f32 rows, with the WASM
   * pool's arithmetic: one workgroup per block.
   */
  encodeBlocksInt4: {
    /** The kernel. */
    program: program('kv-encode-int4', kvInt4 + kvEncode, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['blockSize', 'u32'], ['jobs', 'u32'], ['_pad0', 'u32']] as const,
  },
  /** Reads rows of int4 K/V blocks (or their residual rows) as f32. */
  readRowsInt4: {
    /** The kernel. */
    program: program('kv-read-rows-int4', kvInt4 + kvReadRows, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['headDim', 'u32'], ['blockSize', 'u32'], ['rows', 'u32'], ['_pad0', 'u32']] as const,
  },
  /**
   * Decode-time eviction scores, pass 2: averaged (SnapKV) or summed (H2O) over the query rows, then the
   * GQA reduce.
   */
  recentReduce: {
    /** The kernel. */
    program: program('recent-reduce', recentReduce, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['groupSize', 'u32'], ['rows', 'u32'], ['stride', 'u32'], ['average', 'u32'], ['groupMax', 'u32']] as const,
  },
  /** Ada-KV's safeguard: each head's cap from a host-computed table, rounded as the core reference rounds. */
  adaptiveCaps: {
    /** The kernel. */
    program: program('adaptive-caps', adaptiveCaps, 64),
    /** The fields of its uniform struct, in declaration order. */
    uniforms: [['heads', 'u32'], ['tableLength', 'u32']] as const,
  },
} as const satisfies Record<string, { readonly program: Program; readonly uniforms: readonly UniformField[] }>;
