import { expect } from 'vitest';
import { BudgetError } from '../../src/index.js';
import { type BytePlanInput, planForBytes } from '../../src/quantization/index.js';

/** Checks that `error` is planForBytes's refusal and that the smallest budget it names works; returns that budget. */
export function expectSmallestBudgetWorks(error: unknown, input: BytePlanInput): number {
  expect(error).toBeInstanceOf(BudgetError);
  const least = Number(/smallest budget that works is (\d+) bytes/.exec((error as Error).message)![1]);
  expect(planForBytes({ ...input, bytes: least }).heldBytes).toBeLessThanOrEqual(least);
  return least;
}
