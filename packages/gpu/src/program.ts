import { alignTo } from './uniforms.js';

/** One compute kernel: its WGSL, a cache key (never sizes: those go in uniforms) and its workgroup size. */
export interface Program {
  readonly name: string;
  readonly source: string;
  readonly cacheKey: string;
  readonly workgroupSize: number;
}

/** Pipelines compiled on each device, shared by every cache (and so every dispatcher) of that device. */
const compiledByDevice = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** One compiled pipeline per program cache key, per device. */
export class PipelineCache {
  private readonly pipelines: Map<string, GPUComputePipeline>;

  constructor(private readonly device: GPUDevice) {
    let pipelines = compiledByDevice.get(device);
    if (!pipelines) compiledByDevice.set(device, (pipelines = new Map()));
    this.pipelines = pipelines;
  }

  get(program: Program): GPUComputePipeline {
    let pipeline = this.pipelines.get(program.cacheKey);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label: program.name, code: program.source });
      pipeline = this.device.createComputePipeline({ label: program.name, layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(program.cacheKey, pipeline);
    }
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }
}

export type UniformField = readonly [name: string, type: 'u32' | 'f32'];

/** Packs a uniform struct of 4-byte scalars, padded to 16 bytes as WGSL's uniform layout requires. */
export function packUniforms(fields: readonly UniformField[], values: Record<string, number>): ArrayBuffer {
  const buffer = new ArrayBuffer(alignTo(fields.length * 4, 16));
  const view = new DataView(buffer);
  fields.forEach(([name, type], i) => {
    const value = values[name] ?? 0;
    if (type === 'u32') view.setUint32(i * 4, value, true);
    else view.setFloat32(i * 4, value, true);
  });
  return buffer;
}

/** Workgroups needed to cover `items` with `workgroupSize` threads each. */
export function workgroupsFor(items: number, workgroupSize: number): number {
  return Math.max(1, Math.ceil(items / workgroupSize));
}
