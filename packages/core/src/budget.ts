import { BudgetError } from './errors.js';

/**
 * A cache budget: tokens kept per KV head on average, observation window included (a bare number or
 * `{ tokensPerHead }`), or a share of the prompt (`{ ratio }` in (0, 1]).
 */
export type BudgetSpec =
  | number
  | {
      /** Tokens kept per KV head on average, window included. */
      readonly tokensPerHead: number;
    }
  | {
      /** The share of the prompt kept, in (0, 1]. */
      readonly ratio: number;
    };

/** The budget in tokens per KV head for a prompt of `promptLength` tokens; a ratio rounds to the nearest token, at least 1. */
export function resolveBudget(spec: BudgetSpec, promptLength: number): number {
  if (typeof spec === 'number' || (typeof spec === 'object' && spec !== null && 'tokensPerHead' in spec)) {
    const tokens = typeof spec === 'number' ? spec : spec.tokensPerHead;
    if (!Number.isInteger(tokens) || tokens < 1) {
      throw new BudgetError(
        `A budget in tokens per KV head must be a whole number >= 1, got ${tokens}. ` +
          'For a share of the prompt pass { ratio: 0.25 }.',
      );
    }
    return tokens;
  }
  if (typeof spec === 'object' && spec !== null && 'ratio' in spec) {
    const { ratio } = spec;
    if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0 || ratio > 1) {
      throw new BudgetError(`A budget ratio must be in (0, 1], got ${ratio}.`);
    }
    return Math.max(1, Math.round(ratio * promptLength));
  }
  if (typeof spec === 'object' && spec !== null && 'bytes' in spec) {
    throw new BudgetError(
      'A budget counts tokens per KV head; a byte budget ({ bytes }) chooses the storage format too, so it goes in ' +
        "the Generator's kvBytes option ({ kvBytes: { bytes } }), or planForBytes / storeForBytes.",
    );
  }
  throw new BudgetError(
    `Unrecognised budget ${JSON.stringify(spec)}: pass a token count per KV head (48 or { tokensPerHead: 48 }) or { ratio: 0.25 }.`,
  );
}
