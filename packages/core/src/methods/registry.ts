import { UnknownMethodError } from '../errors.js';
import { adaptive } from './ada-kv.js';
import { critiSnapkv } from './criti-snapkv.js';
import { full } from './full.js';
import { h2o } from './h2o.js';
import { kvcompress } from './kvcompress.js';
import type { OptionSpec, OptionValues } from './option-spec.js';
import { pyramidkv } from './pyramidkv.js';
import { random } from './random.js';
import { snapkv } from './snapkv.js';
import { streamingllm } from './streamingllm.js';
import type { Method } from './types.js';

// the method types in one place for code outside src/methods/ (MethodOptions is defined here)
export type { Method } from './types.js';

/** Every registered method, in display order. Adding a method: its file, then one entry here. */
const registry = [
  full,
  streamingllm,
  h2o,
  snapkv,
  pyramidkv,
  adaptive(snapkv),
  adaptive(pyramidkv),
  kvcompress,
  critiSnapkv,
  adaptive(critiSnapkv),
  random,
] as const;

/** A registered method, with its name and options typed. */
export type RegisteredMethod = (typeof registry)[number];
/** The name of a registered method: `'full' | 'streamingllm' | ... | 'random'`. A typo does not compile. */
export type MethodName = RegisteredMethod['name'];

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type RegisteredOptionSpecs = UnionToIntersection<RegisteredMethod['options']>;

/**
 * Every option a registered method reads, typed by the declarations (`window`, `kernelSize`,
 * `pooling`, `groupReduce`, `alpha`, `beta`, `sinks`, `blockSize`, `maxEvictPerStep`, `epsilon`,
 * `firstStageRatio`, `seed`). `Partial<MethodOptions>` is what callers pass:
 * one object can serve several methods, each reading its own.
 */
export type MethodOptions = OptionValues<RegisteredOptionSpecs>;

/** Names of the registered methods, in display order. */
export const methodNames: readonly MethodName[] = Object.freeze(registry.map((m) => m.name));

/** Every option a registered method reads, by name (in order of first use), as the first method to read it declares it. */
export const registeredOptions: Readonly<{ [K in keyof MethodOptions]: OptionSpec<MethodOptions[K]> }> = (() => {
  const specs: Record<string, OptionSpec<unknown>> = {};
  for (const method of registry) {
    for (const [name, spec] of Object.entries(method.options)) if (!Object.hasOwn(specs, name)) specs[name] = spec;
  }
  return Object.freeze(specs) as unknown as { [K in keyof MethodOptions]: OptionSpec<MethodOptions[K]> };
})();

/** The defaults of every registered option (each method's `defaults` holds its own). */
export const DEFAULT_METHOD_OPTIONS: MethodOptions = Object.freeze(
  Object.fromEntries(Object.entries(registeredOptions).map(([name, spec]) => [name, spec.default])),
) as MethodOptions;

/** Every registered method, in registration order. */
export function listMethods(): readonly RegisteredMethod[] {
  return registry;
}

/** Whether `value` names a registered method (for CLI flags, HTTP bodies and other user input). */
export function isMethodName(value: string): value is MethodName {
  return (methodNames as readonly string[]).includes(value);
}

/** The registered method called `name`; an {@link UnknownMethodError} listing the known names for any other string. */
export function getMethod<N extends MethodName>(
  name: N,
): Extract<
  RegisteredMethod,
  {
    /** The method's name. */
    readonly name: N;
  }
>;
export function getMethod(name: string): Method;
export function getMethod(name: string): Method {
  const method = registry.find((m) => m.name === name);
  if (!method) throw new UnknownMethodError(name, methodNames);
  return method;
}
