import { BACKEND_CHOICES, type BackendChoice, type BudgetSpec, MAX_SEED, type MethodName, getMethod, isMethodName, methodNames, parseKvBytes } from '@adakv/core';


export interface Settings {
  readonly prompt: string;
  readonly method: MethodName;
  readonly budget: BudgetSpec;
  readonly alpha: number;
  readonly window: number;
  readonly steps: number;
  /** 0 = greedy (the default: both answers differ only through the cache). */
  readonly temperature: number;
  /** Both answers sample with the same seed. */
  readonly seed: number;
  readonly backend: BackendChoice;
  /**
   * Decode-time eviction: the most entries a layer may hold per KV head on average while the
   * compressed answer decodes; null (the default) = no eviction after prefill.
   */
  readonly maxCacheTokens: number | null;
  /**
   * One byte budget for the compressed answer's K/V (core's `kvBytes`): bytes, or `{ fraction }` of the
   * prompt's full f32 cache; the format and the entries per head are chosen together (kvcompress),
   * in place of the method and budget. null (the default) = off.
   */
  readonly kvBytes: number | { fraction: number } | null;
  /**
   * With `kvBytes`: int8/int4 heads keep the observation window in f32 (core's `fullPrecisionWindow`),
   * in a residual block the budget counts; the window must then be shorter than a block (16 rows).
   */
  readonly fullPrecisionWindow: boolean;
}

/**
 * Decode steps between a layer's evictions. Smaller than core's default (16) so that the live view
 * of a 64-token answer shows several evictions; a limit must leave room for the window plus these.
 */
export const EVICT_EVERY = 8;

/** Rows per block of the stores both engines make: a window in f32 must be shorter. */
const STORE_BLOCK_ROWS = 16;

/** The form's raw values (strings, as inputs give them; a checkbox only when ticked, as `on`). */
export type RawSettings = Record<Exclude<keyof Settings, 'fullPrecisionWindow'>, string> & { readonly fullPrecisionWindow?: string };

/** A budget field: `48` tokens per head, or `25%` / `0.25` of the prompt. */
export function parseBudget(text: string): BudgetSpec {
  const trimmed = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(trimmed);
  const value = percent ? Number(percent[1]) / 100 : Number(trimmed);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`Budget: give tokens per head (48) or a share of the prompt (25%), not "${text}".`);
  if (percent || value < 1) {
    if (value > 1) throw new Error(`Budget: a share of the prompt is at most 100%, not "${text}".`);
    return { ratio: value };
  }
  if (!Number.isInteger(value)) throw new Error(`Budget: tokens per head must be a whole number, not "${text}".`);
  return value;
}

/**
 * The KV bytes field: empty = off; bytes (`96KiB`, `1.5MiB`, `98304`) or a share of the prompt's full
 * f32 cache (`1/16`, `6.25%`, `0.0625`), as core's `parseKvBytes` reads them.
 */
export function parseKvBytesField(text: string): number | { fraction: number } | null {
  if (text.trim() === '') return null;
  try {
    return parseKvBytes(text);
  } catch (error) {
    throw new Error(`KV bytes: empty for none, or ${(error as Error).message}`);
  }
}

/** Whether the compressed answer evicts while decoding: a limit is set and the method scores entries (`full` keeps all). */
export function evictsWhileDecoding(settings: Settings): boolean {
  return settings.maxCacheTokens !== null && settings.kvBytes === null && getMethod(settings.method).scorer !== null;
}

/** The cache limit field: empty = off, else at least the window plus {@link EVICT_EVERY}. */
function parseCacheLimit(text: string, window: number): number | null {
  if (text.trim() === '') return null;
  const value = Number(text);
  if (!Number.isInteger(value) || value < window + EVICT_EVERY) {
    throw new Error(`Max cache tokens per head: empty for no eviction, or a whole number of at least ${window + EVICT_EVERY} (the window, ${window}, plus ${EVICT_EVERY}), not "${text}".`);
  }
  return value;
}

function integerIn(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name}: a whole number from ${min} to ${max}, not "${text}".`);
  return value;
}

/** Checks every field; the error names the field and what it accepts. */
export function parseSettings(raw: RawSettings): Settings {
  if (raw.prompt.trim() === '') throw new Error('Prompt: write a few words for the model to continue.');
  if (!isMethodName(raw.method)) throw new Error(`Method: one of ${methodNames.join(', ')}.`);
  const alpha = Number(raw.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`Alpha: a number from 0 to 1, not "${raw.alpha}".`);
  const temperature = Number(raw.temperature);
  if (!(temperature >= 0 && temperature <= 2)) throw new Error(`Temperature: a number from 0 (greedy) to 2, not "${raw.temperature}".`);
  if (!(BACKEND_CHOICES as readonly string[]).includes(raw.backend)) throw new Error(`Backend: one of ${BACKEND_CHOICES.join(', ')}.`);
  const window = integerIn(raw.window, 'Window', 1, 128);
  const kvBytes = parseKvBytesField(raw.kvBytes ?? '');
  const maxCacheTokens = parseCacheLimit(raw.maxCacheTokens, window);
  if (kvBytes !== null && maxCacheTokens !== null) {
    throw new Error('KV bytes plans the cache once after prefill: clear “Max cache tokens per head” to use it (decode-time eviction counts tokens).');
  }
  const fullPrecisionWindow = raw.fullPrecisionWindow === 'on';
  if (fullPrecisionWindow && kvBytes === null) throw new Error('Window in f32 applies to a KV byte budget: fill in “KV bytes” too.');
  // the reference backend holds f32 only, so any window is already at full precision there
  if (fullPrecisionWindow && window >= STORE_BLOCK_ROWS && raw.backend !== 'reference') {
    throw new Error(`Window in f32: the observation window must be shorter than a ${STORE_BLOCK_ROWS}-row block, so at most ${STORE_BLOCK_ROWS - 1}; it is ${window}.`);
  }
  return {
    prompt: raw.prompt,
    method: raw.method,
    budget: parseBudget(raw.budget),
    alpha,
    window,
    steps: integerIn(raw.steps, 'Tokens to generate', 1, 200),
    temperature,
    seed: integerIn(raw.seed, 'Seed', 0, MAX_SEED),
    backend: raw.backend as BackendChoice,
    maxCacheTokens,
    kvBytes,
    fullPrecisionWindow,
  };
}

/** Tokens two answers share before they first differ. */
export function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
