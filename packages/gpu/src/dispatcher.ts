import { type GpuContext, assertAlive } from './device.js';
import { PipelineCache, type UniformValues, packUniforms, workgroupsFor } from './program.js';
import { PROGRAMS } from './programs.js';
import { GpuError } from './errors.js';

/** The name of a kernel of {@link PROGRAMS}. */
export type KernelName = keyof typeof PROGRAMS;

/** The uniforms `kernel` takes: every field of its struct but the `_pad*` padding, each a number. */
export type UniformsOf<K extends KernelName> = UniformValues<(typeof PROGRAMS)[K]['uniforms']>;

/** Where a dispatch runs: `threads` or `groups` (spilling into y past 65,535 workgroups), or an explicit `x`, `y`, `z` grid. */
export interface DispatchGrid {
  /** Invocations wanted: workgroups of the kernel's size, enough to cover them. */
  readonly threads?: number;
  /** Workgroups wanted. */
  readonly groups?: number;
  /** Workgroups along x. */
  readonly x?: number;
  /** Workgroups along y. */
  readonly y?: number;
  /** Workgroups along z. */
  readonly z?: number;
}

/** A copy encoded for reading back; see {@link Dispatcher.stage}. */
export interface StagedRead {
  /** The mappable buffer the data is copied into. */
  readonly buffer: GPUBuffer;
  /** Bytes copied. */
  readonly size: number;
}

/** WebGPU's default `maxComputeWorkgroupsPerDimension`. */
const MAX_GROUPS_PER_DIMENSION = 65535;

/**
 * Encodes kernels with their uniforms and bindings, and owns the pipeline cache of one device.
 * Temporary buffers live until `submit()`, which destroys them once the work is queued.
 */
export class Dispatcher {
  /** The compiled pipelines of the device. */
  readonly pipelines: PipelineCache;
  private encoder: GPUCommandEncoder | null = null;
  private temporary: GPUBuffer[] = [];
  /** Validation scopes of submitted work, checked at the next read back. */
  private scopes: Promise<GPUError | null>[] = [];
  /** Buffers created and not yet destroyed by this dispatcher (leak checks). */
  liveTemporary = 0;

  /** @param gpu The device it encodes for. */
  constructor(readonly gpu: GpuContext) {
    this.pipelines = new PipelineCache(gpu.device);
  }

  /** The WebGPU device. */
  get device(): GPUDevice {
    return this.gpu.device;
  }

  private current(): GPUCommandEncoder {
    assertAlive(this.gpu);
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  /** A buffer that lives until the next submit. */
  temp(size: number, usage: number, data?: ArrayBufferView | ArrayBuffer): GPUBuffer {
    const bytes = Math.max(size, data?.byteLength ?? 0);
    const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: usage | GPUBufferUsage.COPY_DST });
    if (data) this.device.queue.writeBuffer(buffer, 0, data instanceof ArrayBuffer ? data : (data.buffer as ArrayBuffer), data instanceof ArrayBuffer ? 0 : data.byteOffset, data.byteLength);
    this.temporary.push(buffer);
    this.liveTemporary++;
    return buffer;
  }

  /** Destroys `buffer` at the next submit, once the commands that use it are queued. */
  retire(buffer: GPUBuffer): void {
    this.temporary.push(buffer);
    this.liveTemporary++;
  }

  /**
   * Encodes one dispatch of `kernel` over `[x, y, z]` workgroups (x given in threads when `threads` is
   * set). `uniforms` must name exactly the fields of the kernel's struct (padding excluded): a missing
   * or unknown field is a compile error, and an INVALID_ARGUMENT GpuError at run time. `buffers[i]`
   * goes to binding `i + 1`; `null` leaves a binding the kernel does not use out.
   */
  run<K extends KernelName>(kernel: K, uniforms: UniformsOf<K>, buffers: readonly (GPUBuffer | null)[], grid: DispatchGrid): void {
    const { program, uniforms: fields } = PROGRAMS[kernel];
    const packed = packUniforms<readonly (readonly [string, 'u32' | 'f32'])[]>(fields, uniforms as Record<string, number>, program.name); // throws before anything is encoded
    const pipeline = this.pipelines.get(program);
    const uniform = this.temp(0, GPUBufferUsage.UNIFORM, packed);
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, ...buffers].flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
    });
    const pass = this.current().beginComputePass({ label: program.name });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    if (grid.threads !== undefined || grid.groups !== undefined) {
      // kernels index `x + y * groupsX` (times the workgroup size for threads): spill into y past 65535 groups
      const groups = grid.groups ?? workgroupsFor(grid.threads!, program.workgroupSize);
      const x = Math.min(groups, MAX_GROUPS_PER_DIMENSION);
      pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    } else pass.dispatchWorkgroups(grid.x ?? 1, grid.y ?? 1, grid.z ?? 1);
    pass.end();
  }

  /** Encodes copying `size` bytes from `from` at `fromOffset` to `to` at `toOffset`, in command order. */
  copy(from: GPUBuffer, fromOffset: number, to: GPUBuffer, toOffset: number, size: number): void {
    this.current().copyBufferToBuffer(from, fromOffset, to, toOffset, size);
  }

  /** Encodes zeroing `size` bytes of `buffer` from `offset` (multiples of 4), in command order. */
  clear(buffer: GPUBuffer, offset = 0, size?: number): void {
    this.current().clearBuffer(buffer, offset, size);
  }

  /** Submits what was encoded and releases the temporary buffers. */
  submit(): void {
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.scopes.push(this.device.popErrorScope());
    }
    this.encoder = null;
    for (const buffer of this.temporary) buffer.destroy();
    this.liveTemporary -= this.temporary.length;
    this.temporary = [];
  }

  /**
   * Encodes a copy of `size` bytes of `source`, as they are at this point of the command stream, into
   * a fresh mappable buffer; `readStaged` brings it back. Lets one submission return several results.
   */
  stage(source: GPUBuffer, size: number, offset = 0): StagedRead {
    const bytes = Math.ceil(size / 4) * 4;
    const buffer = this.device.createBuffer({ size: Math.max(16, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.liveTemporary++;
    if (size > 0) this.copy(source, offset, buffer, 0, bytes);
    return { buffer, size };
  }

  /** Submits what was encoded, waits for it, and returns the staged bytes (checking kernels were accepted). */
  async readStaged(staged: readonly StagedRead[]): Promise<ArrayBuffer[]> {
    try {
      this.submit();
      await Promise.all(staged.map((s) => s.buffer.mapAsync(GPUMapMode.READ)));
      assertAlive(this.gpu);
      const errors = (await Promise.all(this.scopes.splice(0))).filter((e) => e !== null);
      if (errors.length > 0) throw new GpuError('INVALID_ARGUMENT', `A GPU kernel was rejected: ${errors[0]!.message}`);
      return staged.map((s) => s.buffer.getMappedRange(0, Math.max(16, Math.ceil(s.size / 4) * 4)).slice(0, s.size));
    } finally {
      for (const s of staged) s.buffer.destroy();
      this.liveTemporary -= staged.length;
    }
  }

  /** Copies `size` bytes of `source` back to the CPU (submitting first). */
  async read(source: GPUBuffer, size: number, offset = 0): Promise<ArrayBuffer> {
    return (await this.readStaged([this.stage(source, size, offset)]))[0]!;
  }
}

