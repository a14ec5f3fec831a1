import { GpuError } from './errors.js';
import { alignTo } from './uniforms.js';

/** One compute kernel: its WGSL, a cache key (never sizes: those go in uniforms) and its workgroup size. */
export interface Program {
  /** A label for the shader module and the pipeline. */
  readonly name: string;
  /** WGSL source; its entry point is `main`. */
  readonly source: string;
  /** Identifies the compiled pipeline (never sizes: those go in uniforms). */
  readonly cacheKey: string;
  /** Invocations per workgroup, as the WGSL declares it. */
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

  /** The pipeline of `program`, compiled on first use. */
  get(program: Program): GPUComputePipeline {
    let pipeline = this.pipelines.get(program.cacheKey);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label: program.name, code: program.source });
      pipeline = this.device.createComputePipeline({ label: program.name, layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(program.cacheKey, pipeline);
    }
    return pipeline;
  }

  /** Pipelines compiled on this device. */
  get size(): number {
    return this.pipelines.size;
  }
}

/** The WGSL scalar type of a uniform field. */
export type UniformType = 'u32' | 'f32';
/** One field of a uniform struct: its name and type. */
export type UniformField = readonly [name: string, type: UniformType];

/** Fields named `_pad*` only pad a WGSL struct: they are written as 0 and never passed. */
const PADDING = /^_pad/;
type Padding = `_pad${string}`;

/**
 * The object a kernel's uniforms are passed as: one number per field of its struct, padding excluded.
 * A missing or unknown field is a compile error where `fields` is a `const` tuple.
 */
export type UniformValues<F extends readonly UniformField[]> = { readonly [N in Exclude<F[number][0], Padding>]: number };

/**
 * Packs a uniform struct of 4-byte scalars, padded to 16 bytes as WGSL's uniform layout requires.
 * Throws INVALID_ARGUMENT, naming `kernel` and the field, for a missing, unknown (padding included)
 * or non-finite field, or a u32 field that is not an integer in [0, 2^32).
 */
export function packUniforms<const F extends readonly UniformField[]>(fields: F, values: UniformValues<F>, kernel = 'kernel'): ArrayBuffer {
  const given = values as Record<string, unknown>;
  const names = new Set(fields.map(([name]) => name));
  for (const name of Object.keys(given)) {
    if (!names.has(name) || PADDING.test(name)) {
      const expected = fields.map(([field]) => field).filter((field) => !PADDING.test(field)).join(', ');
      throw new GpuError('INVALID_ARGUMENT', `${kernel}: unknown uniform "${name}" (its uniforms are ${expected}${PADDING.test(name) ? '; padding is filled automatically' : ''}).`);
    }
  }
  const buffer = new ArrayBuffer(alignTo(fields.length * 4, 16));
  const view = new DataView(buffer);
  fields.forEach(([name, type], i) => {
    if (PADDING.test(name)) return; // zero
    const value = given[name];
    if (value === undefined) throw new GpuError('INVALID_ARGUMENT', `${kernel}: the uniform "${name}" is missing.`);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new GpuError('INVALID_ARGUMENT', `${kernel}: the uniform "${name}" must be a finite number, got ${String(value)}.`);
    if (type === 'u32') {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new GpuError('INVALID_ARGUMENT', `${kernel}: the u32 uniform "${name}" must be an integer in [0, 2^32), got ${value}.`);
      view.setUint32(i * 4, value, true);
    } else view.setFloat32(i * 4, value, true);
  });
  return buffer;
}

/** Workgroups needed to cover `items` with `workgroupSize` threads each. */
export function workgroupsFor(items: number, workgroupSize: number): number {
  return Math.max(1, Math.ceil(items / workgroupSize));
}
