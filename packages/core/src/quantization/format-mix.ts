import type { KvFormat } from '@adakv/allocator-wasm';
import { formatBytes } from '../format-bytes.js';
import type { BytePlan } from './plan-for-bytes.js';

/**
 * The formats of a byte plan's heads in words: `int4` when every head shares one, else each format
 * with its head count, most used first (`int4 in 30 heads, int8 in 6`).
 */
export function formatMix(headFormats: readonly (readonly KvFormat[])[]): string {
  const counts = new Map<KvFormat, number>();
  for (const format of headFormats.flat()) counts.set(format, (counts.get(format) ?? 0) + 1);
  if (counts.size <= 1) return [...counts.keys()][0] ?? 'f32';
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  return sorted.map(([format, count], i) => `${format} in ${count}${i === 0 ? ' heads' : ''}`).join(', ');
}

const perHead = (tokens: number) => (Number.isInteger(tokens) ? String(tokens) : tokens.toFixed(1));

/**
 * What a byte plan chose and what each other candidate would have kept, in one line: `int4, up to 77
 * entries per head, 158.6 KiB held of a 162.0 KiB budget (also considered: f32 does not fit, ...)`.
 */
export function describeBytePlan(plan: BytePlan): string {
  const others = plan.candidates
    .filter((c) => c.format !== plan.format)
    .map((c) => (c.feasible ? `${c.format} ${perHead(c.tokensPerHead)}/head` : `${c.format} does not fit`));
  const entries = plan.format === 'mixed' ? `${perHead(plan.tokensPerHead)} entries per head on average` : `up to ${plan.tokensPerHead} entries per head`;
  const considered = others.length > 0 ? ` (also considered: ${others.join(', ')})` : '';
  const window = plan.windowRows > 0 ? `, the ${plan.windowRows}-token window in f32` : '';
  return `${formatMix(plan.headFormats)}, ${entries}${window}, ${formatBytes(plan.heldBytes)} held of a ${formatBytes(plan.bytes)} budget${considered}`;
}
