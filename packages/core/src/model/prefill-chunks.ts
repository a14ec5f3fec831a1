import type { PrefillOutput } from './forward.js';
import type { LayerObservation } from './observation.js';

/** One chunk of a prefill: its tokens at positions `start ..`, observations returned when `observe`. */
export type PrefillChunk = (tokens: ArrayLike<number>, start: number, observe: boolean) => Promise<PrefillOutput>;

/**
 * Runs `tokens` (positions `start ..`) as consecutive chunks of at most `chunk` tokens, each
 * continuing the store the previous one filled; the last chunk's logits, and each layer's
 * observations of all the tokens (concatenated) when `observe`.
 */
export async function prefillInChunks(tokens: ArrayLike<number>, chunk: number, start: number, observe: boolean, run: PrefillChunk): Promise<PrefillOutput> {
  const all = Array.from(tokens);
  if (all.length <= chunk) return run(all, start, observe);
  const parts: LayerObservation[][] = [];
  let last: PrefillOutput | undefined;
  for (let offset = 0; offset < all.length; offset += chunk) {
    last = await run(all.slice(offset, offset + chunk), start + offset, observe);
    if (observe) parts.push(last.observations);
  }
  return { logits: last!.logits, observations: observe ? concatenateObservations(parts) : [] };
}

/** Each layer's q, k and v of consecutive chunks joined in order. */
function concatenateObservations(chunks: readonly LayerObservation[][]): LayerObservation[] {
  const join = (arrays: Float32Array[]): Float32Array => {
    const out = new Float32Array(arrays.reduce((sum, a) => sum + a.length, 0));
    let offset = 0;
    for (const a of arrays) {
      out.set(a, offset);
      offset += a.length;
    }
    return out;
  };
  return chunks[0]!.map((_, layer) => ({
    queries: join(chunks.map((c) => c[layer]!.queries)),
    keys: join(chunks.map((c) => c[layer]!.keys)),
    values: join(chunks.map((c) => c[layer]!.values)),
  }));
}
