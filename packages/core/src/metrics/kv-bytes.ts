import type { CompressionPlan } from '../compression-plan.js';
import { OptionError } from '../errors.js';

/** Bytes of `entries` cached K and V rows of `headDim` values each (f32 by default). */
export function kvBytes(entries: number, headDim: number, bytesPerValue = 4): number {
  for (const [name, value, least] of [['entries', entries, 0], ['headDim', headDim, 1], ['bytesPerValue', bytesPerValue, 1]] as const) {
    if (!Number.isInteger(value) || value < least) throw new OptionError(`kvBytes: ${name} must be a whole number >= ${least}, got ${value}.`);
  }
  return entries * headDim * 2 * bytesPerValue;
}

/** The K/V bytes a plan keeps, against the full cache ({@link planKvBytes}). */
export interface PlanBytes {
  /** K/V bytes the plan keeps over all layers and KV heads. */
  readonly kept: number;
  /** K/V bytes of the same prompt uncompressed. */
  readonly full: number;
  /** `kept / full` (1 for an empty prompt). */
  readonly ratio: number;
}

/** What a plan saves: its K/V bytes against the full cache of the same prompt. */
export function planKvBytes(plan: CompressionPlan, headDim: number, bytesPerValue = 4): PlanBytes {
  const kept = kvBytes(plan.achievedTotal, headDim, bytesPerValue);
  const full = kvBytes(plan.originalTotal, headDim, bytesPerValue);
  return { kept, full, ratio: full > 0 ? kept / full : 1 };
}
