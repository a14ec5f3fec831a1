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
  /**
   * A format per layer and KV head, `kvFormats[layer][head]` (what a byte plan's `headFormats` gives):
   * on the wasm and webgpu backends one store holds heads of several formats (`backend.mixedKvFormats`);
   * on reference every head must share one format. Overrides `kvFormat`.
   */
  readonly kvFormats?: readonly (readonly KvFormat[])[];
}

/**
 * The format of every head of `geometry` (`[layer][head]`) a store is asked for: `kvFormats` checked
 * (shape, names, what the backend stores), else `kvFormat` (default f32) for all.
 */
export function headFormatsOf(
  geometry: { readonly layers: number; readonly kvHeads: number },
  options: StoreOptions,
  supported: readonly KvFormat[],
  backend: string,
): KvFormat[][] {
  const { kvFormats } = options;
  if (kvFormats === undefined) {
    const format = checkKvFormat(options.kvFormat, supported, backend) ?? 'f32';
    return Array.from({ length: geometry.layers }, () => new Array<KvFormat>(geometry.kvHeads).fill(format));
  }
  if (!Array.isArray(kvFormats) || kvFormats.length !== geometry.layers || kvFormats.some((layer) => !Array.isArray(layer) || layer.length !== geometry.kvHeads)) {
    throw new OptionError(`kvFormats must list a format for each of ${geometry.layers} layers x ${geometry.kvHeads} KV heads ([layer][head]).`);
  }
  return kvFormats.map((layer: readonly KvFormat[]) => layer.map((format) => checkKvFormat(format, supported, backend)!));
}

/** The one format every head shares, or `undefined` when they differ. */
export function sharedFormat(formats: readonly (readonly KvFormat[])[]): KvFormat | undefined {
  const first = formats[0]?.[0] ?? 'f32';
  return formats.every((layer) => layer.every((format) => format === first)) ? first : undefined;
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
