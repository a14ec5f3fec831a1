import type { Model } from '../model/model.js';

/** What every evaluation on real text takes: the model, the text and how to follow and stop it. */
export interface TextEvaluationOptions {
  /** The model to evaluate. */
  readonly model: Model;
  /** Token windows of real text, each at least `prefill + continuation + 1` long (BOS first). */
  readonly segments: readonly (readonly number[])[];
  /** Called after each run (a segment's full cache, then each setting compared) with the runs done, the total and a label. */
  readonly onProgress?: (done: number, total: number, label: string) => void;
  /** Aborts the evaluation (it rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}
