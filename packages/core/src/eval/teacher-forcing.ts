import type { ForwardPass } from '../backends/backend.js';
import type { KvStore } from '../store.js';
import { argmax, logSoftmax } from './distributions.js';

/**
 * The next-token log-distributions of `continuation` tokens teacher-forced after a prefill of `prefill`
 * tokens: token `prefill + j` decoded at its position, its logits log-softmaxed in f64.
 */
export async function teacherForce(
  forward: ForwardPass,
  store: KvStore,
  tokens: readonly number[],
  prefill: number,
  continuation: number,
  signal: AbortSignal | undefined,
): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let j = 0; j < continuation; j++) {
    signal?.throwIfAborted();
    out.push(logSoftmax(await forward.decode(tokens[prefill + j]!, prefill + j, store)));
  }
  return out;
}

/** How one step of a cache under test differs from the full cache's (both log-distributions). */
export interface StepComparison {
  /** KL(full || tested) in nats. */
  readonly kl: number;
  /** 1 when both predict the same top token, else 0. */
  readonly agrees: number;
  /** NLL of the real next token under the tested cache minus under the full one (nats). */
  readonly nllDelta: number;
}

/** One step: the full cache's log-distribution `p`, the tested one's `q`, the real next token. */
export function compareStep(p: Float64Array, q: Float64Array, target: number): StepComparison {
  let kl = 0;
  for (let v = 0; v < p.length; v++) if (p[v]! > -Infinity) kl += Math.exp(p[v]!) * (p[v]! - q[v]!);
  return { kl, agrees: argmax(p) === argmax(q) ? 1 : 0, nllDelta: -q[target]! + p[target]! };
}

/** Means over a continuation of {@link compareStep}: KL, top-1 agreement and NLL change. */
export function compareContinuation(
  reference: readonly Float64Array[],
  predicted: readonly Float64Array[],
  tokens: readonly number[],
  prefill: number,
): { kl: number; agreement: number; nllDelta: number } {
  let kl = 0;
  let agree = 0;
  let nll = 0;
  reference.forEach((p, j) => {
    const step = compareStep(p, predicted[j]!, tokens[prefill + j + 1]!);
    kl += step.kl;
    agree += step.agrees;
    nll += step.nllDelta;
  });
  const n = reference.length;
  return { kl: kl / n, agreement: agree / n, nllDelta: nll / n };
}
