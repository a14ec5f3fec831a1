import { OptionError } from '../errors.js';
import { checkMethodDeclaration } from './define-method.js';
import { type OptionSpec, checkOption } from './option-spec.js';
import { type MethodOptions, registeredOptions } from './registry.js';
import type { DeclaredOptions, Method } from './types.js';

/** The resolved options of method `M`: the ones it declares, typed (see `DeclaredOptions`). */
export type OptionsOf<M extends Method> = DeclaredOptions<M, MethodOptions>;

/**
 * What a caller may pass as options with method `M`: any registered method's options (one object
 * can serve several methods, as `adakv eval` does), plus `M`'s own when it declares new ones.
 */
export type MethodOverrides<M extends Method = Method> = Partial<MethodOptions> & Partial<OptionsOf<M>>;

/**
 * A method's defaults overridden by `overrides`, each value checked by the method's own
 * declaration. The result holds exactly the options the method declares. A key no registered method
 * (nor this one) knows is refused (a typo); an option another registered method reads but this one
 * does not is checked by that declaration and left out, so one options object can serve several
 * methods. Undefined values are ignored. Throws {@link OptionError}.
 */
export function resolveMethodOptions<M extends Method>(method: M, overrides: MethodOverrides<M> = {}): OptionsOf<M> {
  checkMethodDeclaration(method);
  const own: Readonly<Record<string, OptionSpec<unknown>>> = method.options;
  const known = new Set([...Object.keys(registeredOptions), ...Object.keys(own)]);
  for (const key of Object.keys(overrides)) {
    if (!known.has(key)) throw new OptionError(`Unknown option "${key}". Options: ${[...known].join(', ')}.`);
  }
  const given = overrides as Readonly<Record<string, unknown>>;
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(own)) {
    resolved[name] = given[name] === undefined ? spec.default : checkOption(name, spec, given[name]);
  }
  const others: Readonly<Record<string, OptionSpec<unknown>>> = registeredOptions;
  for (const [name, value] of Object.entries(given)) {
    if (value !== undefined && !Object.hasOwn(own, name)) checkOption(name, others[name]!, value);
  }
  return resolved as OptionsOf<M>;
}
