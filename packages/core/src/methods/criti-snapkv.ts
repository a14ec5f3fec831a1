import { criticalScorer } from '../scorers/criticalkv.js';
import { defineMethod } from './define-method.js';
import { option } from './option-spec.js';
import { snapkv } from './snapkv.js';

/** CriticalKV's epsilon (default 1e-4): added to the attention score before the value weighing. */
export const epsilonOption = option({
  default: 1e-4,
  doc: "CriticalKV: added to an entry's attention score before it is multiplied by its projected value norm",
  requirement: 'must be a number >= 0',
  isValid: (value: unknown): value is number => Number.isFinite(value) && (value as number) >= 0,
});

/** CriticalKV's first-stage share (default 0.5): the part of a head's entries picked by attention alone. */
export const firstStageRatioOption = option({
  default: 0.5,
  doc: "CriticalKV: share of a head's entries picked by attention alone before value weighing (0 = value-weighted only)",
  requirement: 'must be in [0, 1]',
  isValid: (value: unknown): value is number => Number.isFinite(value) && (value as number) >= 0 && (value as number) <= 1,
});

/**
 * CriticalKV over SnapKV (Feng et al., 2025, arXiv 2502.03805; kvpress `CriticalKVPress`): SnapKV's
 * observation-window scores decide the budget and a first share of the entries; the rest go by
 * attention x the L1 norm of the value projected through the output matrix W_o. Needs the model's
 * output projection (`outputProjection` in the request; the Generator, the Scheduler and the
 * evaluations pass it). `adaptive(critiSnapkv)` is CriticalAdaKV.
 */
export const critiSnapkv = defineMethod({
  name: 'criti-snapkv',
  summary: 'SnapKV scores weighed by the norm of each value projected through W_o (two stages), the same budget for every head.',
  paper: 'Identify Critical KV Cache in LLM Inference from an Output Perturbation Perspective (CriticalKV), arXiv 2502.03805',
  scorer: criticalScorer,
  schedule: 'uniform',
  allocation: 'uniform',
  options: {
    // SnapKV's own: window, kernelSize, pooling, groupReduce
    ...snapkv.options,
    /** Added to the attention score before the value weighing (default 1e-4). */
    epsilon: epsilonOption,
    /** Share of a head's entries picked by attention alone (default 0.5). */
    firstStageRatio: firstStageRatioOption,
  },
});
