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

/** A `--kv-bytes` item: a fraction of the full f32 cache as `1/8`, `0.125` or `12.5%`. */
export function byteFraction(text: string): number {
  const ratio = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(text);
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  const value = ratio ? Number(ratio[1]) / Number(ratio[2]) : percent ? Number(percent[1]) / 100 : /^\d*\.?\d+(e-?\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`expected a positive fraction of the full f32 cache (e.g. 1/8, 0.125 or 12.5%), got "${text}".`);
  }
  return value;
}

/**
 * `--kv-bytes`: bytes for the sequence's K+V (`786432`, `768KiB`, `1.5MiB`) or a fraction of the
 * prompt's full f32 cache (`1/8`, `0.125`, `12.5%`): a plain number above 1 is bytes.
 */
export function kvBytes(text: string): number | { fraction: number } {
  const sized = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (sized && (sized[2] !== undefined || Number(sized[1]) > 1)) {
    const unit = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(sized[2] ?? 'b').toLowerCase()]!;
    return Math.floor(Number(sized[1]) * unit);
  }
  try {
    return { fraction: byteFraction(text.trim()) };
  } catch {
    throw new InvalidArgumentError(`expected bytes (e.g. 786432, 768KiB, 1.5MiB) or a fraction of the full f32 cache (e.g. 1/8, 0.125, 12.5%), got "${text}".`);
  }
}

/** Comma-separated list, e.g. `--budgets 24,32,64`. */
export function list<T>(parse: (item: string) => T) {
  return (text: string): T[] => text.split(',').map((item) => parse(item.trim()));
}
