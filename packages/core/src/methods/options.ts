import { OptionError } from '../errors.js';
import type { Method, MethodOptions } from './types.js';

const KNOWN = ['window', 'kernelSize', 'pooling', 'groupReduce', 'alpha', 'beta', 'sinks'] as const;

function check(ok: boolean, message: string): void {
  if (!ok) throw new OptionError(message);
}

/** A method's defaults overridden by `overrides`, every value checked; unknown keys are refused (typos). */
export function resolveMethodOptions(method: Method, overrides: Partial<MethodOptions> = {}): MethodOptions {
  for (const key of Object.keys(overrides)) {
    check((KNOWN as readonly string[]).includes(key), `Unknown option "${key}". Options: ${KNOWN.join(', ')}.`);
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const options: MethodOptions = { ...method.defaults, ...defined };
  const { window, kernelSize, pooling, groupReduce, alpha, beta, sinks } = options;
  check(Number.isInteger(window) && window >= 1, `window must be a whole number >= 1, got ${window}.`);
  check(
    Number.isInteger(kernelSize) && kernelSize >= 1 && kernelSize % 2 === 1,
    `kernelSize must be an odd whole number >= 1 (1 = no pooling), got ${kernelSize}.`,
  );
  check(pooling === 'max' || pooling === 'avg', `pooling must be "max" or "avg", got ${String(pooling)}.`);
  check(groupReduce === 'mean' || groupReduce === 'max', `groupReduce must be "mean" or "max", got ${String(groupReduce)}.`);
  check(Number.isFinite(alpha) && alpha >= 0 && alpha <= 1, `alpha must be in [0, 1] (1 = uniform split), got ${alpha}.`);
  check(Number.isFinite(beta) && beta > 0, `beta must be a positive number, got ${beta}.`);
  check(Number.isInteger(sinks) && sinks >= 0, `sinks must be a whole number >= 0, got ${sinks}.`);
  return options;
}
