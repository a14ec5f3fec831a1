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
import rmsnorm from './kernels/rmsnorm.wgsl';
import rope from './kernels/rope.wgsl';
import elementwise from './kernels/elementwise.wgsl';
import topkSelect from './kernels/topk-select.wgsl';
import matmul from './kernels/matmul.wgsl';
import softmax from './kernels/softmax.wgsl';
import argmax from './kernels/argmax.wgsl';
import kvF16 from './kernels/kv-f16.wgsl';
import kvF32 from './kernels/kv-f32.wgsl';
import workgroupReduce from './kernels/workgroup-reduce.wgsl';
import radixSelect from './kernels/radix-select.wgsl';
import type { Program, UniformField } from './program.js';

const program = (name: string, source: string, workgroupSize: number): Program => ({ name, source, cacheKey: name, workgroupSize });

/** Every kernel with the fields of its uniform struct, in declaration order. */
export const PROGRAMS = {
  pagedAttention: {
    program: program('paged-attention', kvF32 + pagedAttention, 64),
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad', 'u32']] as UniformField[],
  },
  attentionReduce: {
    program: program('attention-reduce', attentionReduce, 64),
    uniforms: [['headDim', 'u32'], ['splits', 'u32'], ['queryHeads', 'u32'], ['_pad', 'u32']] as UniformField[],
  },
  scatterRows: {
    program: program('scatter-rows', kvF32 + scatterRows, 64),
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as UniformField[],
  },
  gatherRows: {
    program: program('gather-rows', gatherRows, 64),
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as UniformField[],
  },
  windowAttention: {
    program: program('window-attention', workgroupReduce + windowAttention, 64),
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['window', 'u32'], ['scale', 'f32']] as UniformField[],
  },
  causalAttention: {
    program: program('causal-attention', causalAttention, 64),
    uniforms: [['headDim', 'u32'], ['queryHeads', 'u32'], ['kvHeads', 'u32'], ['tokens', 'u32'], ['scale', 'f32']] as UniformField[],
  },
  windowReduce: {
    program: program('window-reduce', windowReduce, 64),
    uniforms: [['queryHeads', 'u32'], ['kvHeads', 'u32'], ['window', 'u32'], ['prefix', 'u32'], ['groupMax', 'u32']] as UniformField[],
  },
  pool1d: {
    program: program('pool1d', pool1d, 64),
    uniforms: [['heads', 'u32'], ['length', 'u32'], ['kernelSize', 'u32'], ['average', 'u32']] as UniformField[],
  },
  adaptiveCounts: {
    program: program('adaptive-counts', radixSelect + adaptiveCounts, 256),
    uniforms: [['heads', 'u32'], ['length', 'u32'], ['k', 'u32']] as UniformField[],
  },
  matvec: {
    program: program('matvec', matvec, 64),
    uniforms: [['inDim', 'u32'], ['outDim', 'u32'], ['weightOffset', 'u32'], ['lanes', 'u32']] as UniformField[],
  },
  rmsnorm: {
    program: program('rmsnorm', workgroupReduce + rmsnorm, 64),
    uniforms: [['dim', 'u32'], ['weightOffset', 'u32'], ['eps', 'f32'], ['rows', 'u32']] as UniformField[],
  },
  rope: {
    program: program('rope', rope, 64),
    uniforms: [['heads', 'u32'], ['headDim', 'u32'], ['position', 'u32'], ['tokens', 'u32']] as UniformField[],
  },
  elementwise: {
    program: program('elementwise', elementwise, 64),
    uniforms: [['length', 'u32'], ['op', 'u32']] as UniformField[],
  },
  topkSelect: {
    program: program('topk-select', radixSelect + topkSelect, 256),
    uniforms: [['heads', 'u32']] as UniformField[],
  },
  matmul: {
    program: program('matmul', matmul, 256),
    uniforms: [['rows', 'u32'], ['inDim', 'u32'], ['outDim', 'u32'], ['accumulate', 'u32']] as UniformField[],
  },
  softmax: {
    program: program('softmax', workgroupReduce + softmax, 64),
    uniforms: [['rows', 'u32'], ['length', 'u32']] as UniformField[],
  },
  argmax: {
    program: program('argmax', argmax, 256),
    uniforms: [['length', 'u32']] as UniformField[],
  },
  pagedAttentionF16: {
    program: program('paged-attention-f16', kvF16 + pagedAttention, 64),
    uniforms: [['headDim', 'u32'], ['groupSize', 'u32'], ['blockSize', 'u32'], ['maxBlocks', 'u32'], ['splitRows', 'u32'], ['splits', 'u32'], ['scale', 'f32'], ['_pad', 'u32']] as UniformField[],
  },
  scatterRowsF16: {
    program: program('scatter-rows-f16', kvF16 + scatterRows, 64),
    uniforms: [['headDim', 'u32'], ['rows', 'u32']] as UniformField[],
  },
} as const;
