import { OptionError } from '../errors.js';
import type { ByteFraction } from './plan-for-bytes.js';

const UNITS: Readonly<Record<string, number>> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/**
 * A share of the prompt's full f32 cache as users write it: `1/8`, `0.125` or `12.5%`. Throws an
 * {@link OptionError} for anything else, or a share that is not positive.
 */
export function parseByteFraction(text: string): number {
  const trimmed = text.trim();
  const ratio = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(trimmed);
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(trimmed);
  const value = ratio ? Number(ratio[1]) / Number(ratio[2]) : percent ? Number(percent[1]) / 100 : /^\d*\.?\d+(e-?\d+)?$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new OptionError(`expected a positive fraction of the full f32 cache (e.g. 1/8, 0.125 or 12.5%), got "${text}".`);
  }
  return value;
}

/**
 * A K/V byte budget as users write it (`--kv-bytes`, the playground's field): bytes (`786432`,
 * `768KiB`, `1.5MiB`) or a share of the prompt's full f32 cache (`1/8`, `0.125`, `12.5%`); a plain
 * number above 1 is bytes. Throws an {@link OptionError} saying which forms it takes.
 */
export function parseKvBytes(text: string): number | ByteFraction {
  const sized = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (sized && (sized[2] !== undefined || Number(sized[1]) > 1)) {
    const bytes = Math.floor(Number(sized[1]) * UNITS[(sized[2] ?? 'b').toLowerCase()]!);
    if (bytes >= 1) return bytes;
  } else {
    try {
      return { fraction: parseByteFraction(text) };
    } catch {
      // the message below names both forms
    }
  }
  throw new OptionError(`expected bytes (e.g. 786432, 768KiB, 1.5MiB) or a fraction of the full f32 cache (e.g. 1/8, 0.125, 12.5%), got "${text}".`);
}
