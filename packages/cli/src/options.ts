import { parseByteFraction, parseKvBytes } from '@adakv/core';
import { InvalidArgumentError } from 'commander';

/** Commander value parsers that turn a bad flag value into a usage error naming the flag's rule. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got "${text}".`);
    }
    return value;
  };
}

export function number(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${text}".`);
    }
    return value;
  };
}

/** `--budget 64` (tokens per KV head, window included) or `--budget 0.25` / `--budget 25%` (of the prompt). */
export function budget(text: string): number | { ratio: number } {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const value = percent ? Number(percent[1]) / 100 : Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`expected tokens per head (e.g. 64) or a ratio of the prompt (e.g. 0.25 or 25%), got "${text}".`);
  }
  if (value < 1 || percent) {
    if (value > 1) throw new InvalidArgumentError(`a ratio must be at most 1 (100%), got "${text}".`);
    return { ratio: value };
  }
  if (!Number.isInteger(value)) throw new InvalidArgumentError(`a token budget must be a whole number, got "${text}".`);
  return value;
}

/** A share of the prompt's full f32 cache (`1/8`, `0.125`, `12.5%`): core's `parseByteFraction`, as commander wants its errors. */
export function byteFraction(text: string): number {
  return asArgumentError(() => parseByteFraction(text));
}

/**
 * `--kv-bytes`: bytes for the sequence's K+V (`786432`, `768KiB`, `1.5MiB`) or a fraction of the
 * prompt's full f32 cache (`1/8`, `0.125`, `12.5%`): core's `parseKvBytes`.
 */
export function kvBytes(text: string): number | { fraction: number } {
  return asArgumentError(() => parseKvBytes(text));
}

function asArgumentError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Comma-separated list, e.g. `--budgets 24,32,64`. */
export function list<T>(parse: (item: string) => T) {
  return (text: string): T[] => text.split(',').map((item) => parse(item.trim()));
}
