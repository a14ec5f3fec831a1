/** How a plan rounds the heads' shares to the blocks of a paged store. */
export interface BlockAlignment {
  /** Rows per block (1: not rounded). */
  readonly blockSize: number;
  /** Whether each head's protected entries take a block apart from the others ({@link alignCapsBesideWindow}). */
  readonly windowApart?: boolean | undefined;
}

/**
 * Rounds a layer's per-head caps to whole blocks of a paged store, so that every head's last block is
 * full and the layer holds no block with empty rows: the layer keeps `N = floor(rows / blockSize)`
 * blocks, `rows` being the layer's budget (default: the caps and protected entries; never more rows
 * than that), each head first its own caps rounded
 * down to whole blocks (at least the blocks its protected tail needs), then the blocks left over, one
 * at a time, to the head whose next `blockSize` selectable entries score highest (ties to the lower
 * head). When the protected tails alone round up past `N`, the blocks whose entries score lowest go
 * first. Scores are compared across heads, as Ada-KV's flattened top-k does, so the rounding follows
 * the method's allocation and moves at most a few blocks per layer.
 *
 * `scores[h]` are head `h`'s selectable entries' scores, `caps[h]` how many of them it keeps,
 * `protectedCounts[h]` the entries it keeps besides (its window). Returns the new caps.
 */
export function alignCapsToBlocks(
  scores: readonly Float32Array[],
  caps: ArrayLike<number>,
  protectedCounts: ArrayLike<number>,
  blockSize: number,
  rows?: number,
): Int32Array {
  const heads = scores.length;
  if (blockSize <= 1) return Int32Array.from(caps);
  const sorted = scores.map((row) => Float32Array.from(row).sort().reverse());
  const entries = (h: number, blocks: number) => Math.min(scores[h]!.length, Math.max(0, blocks * blockSize - protectedCounts[h]!));
  // the gain of head h's next block: the scores of the selectable entries it would add
  const gain = (h: number, blocks: number) => {
    let sum = 0;
    for (let i = entries(h, blocks); i < entries(h, blocks + 1); i++) sum += sorted[h]![i]!;
    return sum;
  };
  let total = 0;
  for (let h = 0; h < heads; h++) total += caps[h]! + protectedCounts[h]!;
  const target = Math.floor((rows ?? total) / blockSize);
  const fewest = Int32Array.from({ length: heads }, (_, h) => Math.ceil(protectedCounts[h]! / blockSize));
  const most = Int32Array.from({ length: heads }, (_, h) => Math.ceil((scores[h]!.length + protectedCounts[h]!) / blockSize));
  const blocks = Int32Array.from({ length: heads }, (_, h) => Math.min(most[h]!, Math.max(fewest[h]!, Math.floor((caps[h]! + protectedCounts[h]!) / blockSize))));
  let held = blocks.reduce((sum, b) => sum + b, 0);
  while (held < target) {
    let best = -1;
    let bestGain = -Infinity;
    for (let h = 0; h < heads; h++) {
      if (blocks[h]! >= most[h]!) continue;
      const g = gain(h, blocks[h]!);
      if (g > bestGain) [best, bestGain] = [h, g];
    }
    if (best < 0) break; // every head holds all it has
    blocks[best]!++;
    held++;
  }
  while (held > target) {
    let worst = -1;
    let worstGain = Infinity;
    for (let h = 0; h < heads; h++) {
      if (blocks[h]! <= fewest[h]!) continue;
      const g = gain(h, blocks[h]! - 1);
      if (g < worstGain) [worst, worstGain] = [h, g];
    }
    if (worst < 0) break; // only protected blocks left: they stay
    blocks[worst]!--;
    held--;
  }
  return Int32Array.from({ length: heads }, (_, h) => entries(h, blocks[h]!));
}

/**
 * {@link alignCapsToBlocks} for a store that holds each head's protected entries in a block apart (an
 * int8/int4 head's f32 residual, see `planForBytes`'s `fullPrecisionWindow`): the selectable entries
 * alone rounded to whole blocks of the layer's `rows` less the protected ones, and a head that keeps all
 * its selectable entries in a partly filled last block keeps that block only if its protected entries
 * still fit in it (`kept mod blockSize + protected < blockSize`), else only its whole blocks.
 */
export function alignCapsBesideWindow(
  scores: readonly Float32Array[],
  caps: ArrayLike<number>,
  protectedCounts: ArrayLike<number>,
  blockSize: number,
  rows?: number,
): Int32Array {
  let protectedRows = 0;
  let total = 0;
  for (let h = 0; h < scores.length; h++) {
    protectedRows += protectedCounts[h]!;
    total += caps[h]! + protectedCounts[h]!;
  }
  const aligned = alignCapsToBlocks(scores, caps, new Int32Array(scores.length), blockSize, (rows ?? total) - protectedRows);
  return aligned.map((kept, h) => fitBesideWindow(kept, protectedCounts[h]!, blockSize));
}

/** `kept`, or its whole blocks when its partly filled last block leaves no room for `window` more rows. */
export function fitBesideWindow(kept: number, window: number, blockSize: number): number {
  return (kept % blockSize) + window < blockSize ? kept : kept - (kept % blockSize);
}
