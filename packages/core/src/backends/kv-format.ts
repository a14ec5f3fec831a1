import { KV_FORMATS, type KvFormat } from '@adakv/allocator-wasm';
import { OptionError } from '../errors.js';

export { KV_FORMATS, type KvFormat };

/** How a store keeps its K/V, where the backend lets the caller choose. */
export interface StoreOptions {
  /**
   * The storage format of the store's K/V (default `f32`): `f16`, or `int8` / `int4` (KIVI-style
   * scales, the last partial block in f32 until it fills) on the wasm and webgpu backends, with the
   * same numerics on both (the reference backend stores f32 only); see `KvFormat`.
   */
  readonly kvFormat?: KvFormat;
}

/** The format asked for, checked against what a backend stores; `undefined` when none was asked. */
export function checkKvFormat(format: unknown, supported: readonly KvFormat[], backend: string): KvFormat | undefined {
  if (format === undefined) return undefined;
  if (!KV_FORMATS.includes(format as KvFormat)) {
    throw new OptionError(`kvFormat must be one of ${KV_FORMATS.join(', ')}, got ${JSON.stringify(format)}.`);
  }
  if (!supported.includes(format as KvFormat)) {
    const others = backend === 'wasm' || backend === 'webgpu' ? '' : `; the wasm and webgpu backends store ${KV_FORMATS.join(', ')}`;
    throw new OptionError(`The ${backend} backend stores K/V as ${supported.join(' or ')}, not ${format as string}${others}.`);
  }
  return format as KvFormat;
}
