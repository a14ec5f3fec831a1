import { type BytePlan, describeBytePlan } from '@adakv/core';
import type { CacheFrame } from './cache-frames.js';
import type { LiveStats } from './generation.js';
import type { Isolation } from './isolation.js';

const percent = (value: number) => `${Math.round(value * 100)}%`;
const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);

/** The compression figure: live (bytes now, generated tokens included) and what the plan cut at prefill. */
export function compressionText(stats: Pick<LiveStats, 'compressedBytes' | 'fullBytes' | 'plan'>): string {
  if (!stats.plan) return 'none';
  const now = stats.compressedBytes > 0 ? stats.fullBytes / stats.compressedBytes : 1;
  return `${now.toFixed(2)}x now, ${(stats.plan.originalTotal / stats.plan.achievedTotal).toFixed(2)}x after prefill`;
}

/** What a KV byte budget chose, and what each other format would have kept. */
export function bytePlanText(plan: BytePlan): string {
  return `Byte plan: ${describeBytePlan(plan)}.`;
}

/** The words beside the live cache chart: where decoding is, what the cache holds, what eviction took. */
export function liveCacheText(frame: CacheFrame, limit: number, steps: number): string {
  const fullest = Math.max(...frame.layerMeans);
  const since = frame.evictedSinceTotal > 0 ? ` (${frame.evictedSinceTotal} since the previous frame)` : '';
  return (
    `Step ${frame.step} of ${steps}: ${frame.heldTotal} entries held, at most ${fullest.toFixed(1)} per head in any layer ` +
    `(limit ${limit}). Evicted by the cache limit so far: ${frame.evictedSoFar}${since}.`
  );
}

/** One sentence under the figures: how unequal the heads are, and what that buys Ada-KV here. */
export function takeaway(fractionsFor90: readonly number[], uniform: readonly number[], adaptive: readonly number[]): string {
  const [low, high] = [Math.min(...fractionsFor90), Math.max(...fractionsFor90)];
  const [u, a] = [mean(uniform), mean(adaptive)];
  const verdict =
    a > u
      ? `so at this budget Ada-KV keeps ${percent(a)} of the attention mass on average where an even split keeps ${percent(u)}.`
      : `yet at this budget an even split keeps as much attention mass (${percent(u)}) as Ada-KV (${percent(a)}).`;
  return `For this prompt, the most concentrated head holds 90% of its attention in ${percent(low)} of its cache and the most spread one needs ${percent(high)}, ${verdict}`;
}

export interface TextPart {
  readonly text: string;
  /** Set for a link. */
  readonly href?: string;
}

/** A method's paper line, with every `arXiv NNNN.NNNNN` made a link to the abstract. */
export function paperParts(paper: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of paper.matchAll(/arXiv (\d{4}\.\d{4,5})/g)) {
    if (match.index > last) parts.push({ text: paper.slice(last, match.index) });
    parts.push({ text: match[0], href: `https://arxiv.org/abs/${match[1]}` });
    last = match.index + match[0].length;
  }
  if (last < paper.length) parts.push({ text: paper.slice(last) });
  return parts;
}

/** Why `auto` left a software WebGPU renderer (a CPU pretending to be a GPU) for WASM. */
export function softwareWebGpuNotice(adapterInfo: string): string {
  return `WebGPU here is a software renderer (${adapterInfo}), slower than WASM. Using the WASM backend; choose WebGPU to run on it anyway.`;
}

/** What `auto` says when it falls back: a reason a browser user can act on (the error's details go to the console). */
export function webGpuFallbackNotice(browserHasWebGpu: boolean): string {
  const reason = browserHasWebGpu
    ? 'this browser has WebGPU but offered no adapter (the GPU may be blocked or disabled)'
    : 'this browser has no WebGPU (or it is turned off)';
  return `WebGPU is not available: ${reason}. Using the WASM backend instead; the answers are the same, only the cache lives elsewhere.`;
}

/**
 * The line about the engine a run uses: the backend's own description (for WASM: which build, how
 * many threads, and why single-threaded when it is), plus, when the WASM engine runs single-threaded,
 * what the page knows about why: `?wasm=` gives one single-thread build, or the page is not
 * cross-origin isolated and why not.
 */
export function engineLine(backend: { readonly name: string; readonly description: string }, isolation: Isolation, wasmFromQuery: boolean): string {
  const line = backend.description.replace(/\.$/, '');
  if (backend.name !== 'wasm' || !/single thread/.test(line)) return `${line}.`;
  if (wasmFromQuery) return `${line}. The allocator given by ?wasm= is the single-thread build.`;
  if (!isolation.isolated) return `${line}. Why it is not isolated: ${isolation.reason}.`;
  return `${line}.`;
}
