import { OptionError } from '../errors.js';

/**
 * One option a method reads: its default, what a valid value is, and a line of documentation. The
 * error for a bad value reads `<name> <requirement>, got <value>.`
 * (e.g. `window must be a whole number >= 1, got 0.`).
 */
export interface OptionSpec<T> {
  /** The value when the caller gives none (the reference implementation's). */
  readonly default: T;
  /** One line for help texts: what the option controls. */
  readonly doc: string;
  /** What a valid value is, as it reads after the option's name: `must be a whole number >= 1`. */
  readonly requirement: string;
  /** Whether `value` is valid; also what narrows it to `T`. */
  readonly isValid: (value: unknown) => value is T;
}

/** Options by name, as a method declares them. */
export type OptionSpecs = { readonly [name: string]: OptionSpec<unknown> };

/** The values of declared options: `{ window: OptionSpec<number> }` gives `{ window: number }`. */
export type OptionValues<Specs extends OptionSpecs> = {
  readonly [K in keyof Specs]: Specs[K] extends OptionSpec<infer T> ? T : never;
};

/** Declares an option (an identity function that infers `T` from `isValid`). */
export function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return Object.freeze({ ...spec });
}

/** Throws an {@link OptionError} unless `value` is valid for the option `name`. */
export function checkOption<T>(name: string, spec: OptionSpec<T>, value: unknown): T {
  if (!spec.isValid(value)) throw new OptionError(`${name} ${spec.requirement}, got ${String(value)}.`);
  return value;
}

/** The defaults of declared options, each checked against its own declaration. */
export function defaultValues<Specs extends OptionSpecs>(specs: Specs): OptionValues<Specs> {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = checkOption(name, spec, spec.default);
  return Object.freeze(values) as OptionValues<Specs>;
}
