import adaptiveCounts from './kernels/adaptive-counts.wgsl';
import attentionReduce from './kernels/attention-reduce.wgsl';
import gatherRows from './kernels/gather-rows.wgsl';
import pagedAttention from './kernels/paged-attention.wgsl';
import pool1d from './kernels/pool1d.wgsl';
import scatterRows from './kernels/scatter-rows.wgsl';
import windowAttention from './kernels/window-attention.wgsl';
import causalAttention from './kernels/causal-attention.wgsl';
import windowReduce from './kernels/window-reduce.wgsl';
import matvec from './kernels/matvec.wgsl';
import matvecBatch from './kernels/matvec-batch.wgsl';
import rmsnorm from './kernels/rmsnorm.wgsl';
import rope from './kernels/rope.wgsl';
import ropeBase from './kernels/rope-base.wgsl';
import ropeRows from './kernels/rope-rows.wgsl';
import elementwise from './kernels/elementwise.wgsl';
import topkSelect from './kernels/topk-select.wgsl';
import matmul from './kernels/matmul.wgsl';
import softmax from './kernels/softmax.wgsl';
import argmax from './kernels/argmax.wgsl';
import kvF16 from './kernels/kv-f16.wgsl';
import kvF32 from './kernels/kv-f32.wgsl';
import workgroupReduce from './kernels/workgroup-reduce.wgsl';
import radixSelect from './kernels/radix-select.wgsl';
import recentAttention from './kernels/recent-attention.wgsl';
import recentReduce from './kernels/recent-reduce.wgsl';
import adaptiveCaps from './kernels/adaptive-caps.wgsl';
import type { Program, UniformField } from './program.js';

const program = (name: string, source: string, workgroupSize: number): Program => ({ name, source, cacheKey: name, workgroupSize });

/** Every kernel with the fields of its uniform struct, in declaration order. */
export const PROGRAMS = {
  pagedAttention: {
    program: program('paged-attention', kvF32 + pagedAttention, 64),
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad0', 'u32']] as const,
  },
  attentionReduce: {
    program: program('attention-reduce', attentionReduce, 64),
    uniforms: [['headDim', 'u32'], ['splits', 'u32'], ['queryHeads', 'u32'], ['_pad', 'u32']] as const,
  },
  scatterRows: {
    program: program('scatter-rows', kvF32 + scatterRows, 64),
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as const,
  },
  gatherRows: {
    program: program('gather-rows', gatherRows, 64),
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as const,
  },
  windowAttention: {
    program: program('window-attention', workgroupReduce + windowAttention, 64),
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['window', 'u32'], ['scale', 'f32']] as const,
  },
  causalAttention: {
    program: program('causal-attention', causalAttention, 64),
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32']] as const,
  },
  windowReduce: {
    program: program('window-reduce', windowReduce, 64),
    uniforms: [['queryHeads', 'u32'], ['kvHeads', 'u32'], ['window', 'u32'], ['prefix', 'u32'], ['groupMax', 'u32']] as const,
  },
  pool1d: {
    program: program('pool1d', pool1d, 64),
    uniforms: [['heads', 'u32'], ['length', 'u32'], ['kernelSize', 'u32'], ['average', 'u32']] as const,
  },
  adaptiveCounts: {
    program: program('adaptive-counts', radixSelect + adaptiveCounts, 256),
    uniforms: [['heads', 'u32'], ['length', 'u32'], ['k', 'u32']] as const,
  },
  matvec: {
    program: program('matvec', matvec, 64),
    uniforms: [['inDim', 'u32'], ['outDim', 'u32'], ['weightOffset', 'u32'], ['lanes', 'u32']] as const,
  },
  matvecBatch: {
    program: program('matvec-batch', matvecBatch, 64),
    uniforms: [['inDim', 'u32'], ['outDim', 'u32'], ['weightOffset', 'u32'], ['lanes', 'u32'], ['rows', 'u32']] as const,
  },
  rmsnorm: {
    program: program('rmsnorm', workgroupReduce + rmsnorm, 64),
    uniforms: [['dim', 'u32'], ['weightOffset', 'u32'], ['eps', 'f32'], ['rows', 'u32']] as const,
  },
  rope: {
    program: program('rope', ropeBase + rope, 64),
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as const,
  },
  ropeRows: {
    program: program('rope-rows', ropeRows + rope, 64),
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as const,
  },
  elementwise: {
    program: program('elementwise', elementwise, 64),
    uniforms: [['length', 'u32'], ['op', 'u32']] as const,
  },
  topkSelect: {
    program: program('topk-select', radixSelect + topkSelect, 256),
    uniforms: [['heads', 'u32']] as const,
  },
  matmul: {
    program: program('matmul', matmul, 256),
    uniforms: [['rows', 'u32'], ['inDim', 'u32'], ['outDim', 'u32'], ['accumulate', 'u32']] as const,
  },
  softmax: {
    program: program('softmax', workgroupReduce + softmax, 64),
    uniforms: [['rows', 'u32'], ['length', 'u32']] as const,
  },
  argmax: {
    program: program('argmax', argmax, 256),
    uniforms: [['length', 'u32'], ['rows', 'u32']] as const,
  },
  pagedAttentionF16: {
    program: program('paged-attention-f16', kvF16 + pagedAttention, 64),
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad0', 'u32']] as const,
  },
  scatterRowsF16: {
    program: program('scatter-rows-f16', kvF16 + scatterRows, 64),
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as const,
  },
  recentAttention: {
    program: program('recent-attention', kvF32 + workgroupReduce + recentAttention, 64),
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['rows', 'u32'], ['ringRows', 'u32'], ['firstSlot', 'u32'], ['maxLength', 'u32'], ['scale', 'f32']] as const,
  },
  recentAttentionF16: {
    program: program('recent-attention-f16', kvF16 + workgroupReduce + recentAttention, 64),
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['rows', 'u32'], ['ringRows', 'u32'], ['firstSlot', 'u32'], ['maxLength', 'u32'], ['scale', 'f32']] as const,
  },
  recentReduce: {
    program: program('recent-reduce', recentReduce, 64),
    uniforms: [['groupSize', 'u32'], ['rows', 'u32'], ['stride', 'u32'], ['average', 'u32'], ['groupMax', 'u32']] as const,
  },
  adaptiveCaps: {
    program: program('adaptive-caps', adaptiveCaps, 64),
    uniforms: [['heads', 'u32'], ['tableLength', 'u32']] as const,
  },
} as const satisfies Record<string, { readonly program: Program; readonly uniforms: readonly UniformField[] }>;
