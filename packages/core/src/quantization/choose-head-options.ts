/** One way to hold one (layer, KV head): what it costs and what it loses. */
export interface HeadOption {
  /** Bytes the head's kept entries take (whole blocks of its format). */
  readonly bytes: number;
  /** Its predicted error (held-out attention-output L1). */
  readonly error: number;
}

/** Sum of the chosen options' bytes. */
export function bytesOf(heads: readonly (readonly HeadOption[])[], choice: readonly number[]): number {
  return choice.reduce((sum, o, h) => sum + heads[h]![o]!.bytes, 0);
}

/** Per head, the option with the least `error + price x bytes` (ties: fewer bytes, then the earlier option). */
function priced(heads: readonly (readonly HeadOption[])[], price: number): number[] {
  return heads.map((options) => {
    let best = 0;
    options.forEach((option, o) => {
      const cost = option.error + price * option.bytes;
      const bestCost = options[best]!.error + price * options[best]!.bytes;
      if (cost < bestCost || (cost === bestCost && option.bytes < options[best]!.bytes)) best = o;
    });
    return best;
  });
}

/**
 * One option per head with the least total error whose bytes fit `budget` (a multiple-choice
 * knapsack), or `undefined` when even the cheapest options do not fit. Deterministic and simple, not
 * exact: the smallest price per byte at which every head's cheapest-in-error-plus-price option fits
 * (bisection: a higher price never takes more bytes), then, while bytes are left, the upgrade that
 * buys the most error per byte. Options are listed per head in a fixed order (ties go to the earlier).
 */
export function chooseHeadOptions(heads: readonly (readonly HeadOption[])[], budget: number): number[] | undefined {
  if (heads.some((options) => options.length === 0)) return undefined;
  let steepest = 0; // a price at which every head takes its fewest bytes
  for (const options of heads) {
    for (const a of options) {
      for (const b of options) if (a.bytes !== b.bytes) steepest = Math.max(steepest, Math.abs(a.error - b.error) / Math.abs(a.bytes - b.bytes));
    }
  }
  let high = 2 * steepest + 1;
  let choice = priced(heads, high);
  if (bytesOf(heads, choice) > budget) return undefined;
  let low = 0;
  const free = priced(heads, 0);
  if (bytesOf(heads, free) <= budget) {
    choice = free;
  } else {
    for (let step = 0; step < 60; step++) {
      const middle = (low + high) / 2;
      const at = priced(heads, middle);
      if (bytesOf(heads, at) <= budget) {
        high = middle;
        choice = at;
      } else {
        low = middle;
      }
    }
  }
  // Spend what is left: each round takes the single switch that lowers the error most per byte added.
  for (;;) {
    const left = budget - bytesOf(heads, choice);
    let best: { head: number; option: number; gain: number } | undefined;
    heads.forEach((options, h) => {
      const current = options[choice[h]!]!;
      options.forEach((option, o) => {
        const added = option.bytes - current.bytes;
        const saved = current.error - option.error;
        if (saved <= 0 || added > left) return;
        const gain = added <= 0 ? Infinity : saved / added;
        if (!best || gain > best.gain) best = { head: h, option: o, gain };
      });
    });
    if (!best) return choice;
    choice[best.head] = best.option;
  }
}
