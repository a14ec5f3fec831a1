import { describe, expect, it } from 'vitest';
import { cacheFrame } from '../src/cache-frames.js';
import { EVICTED_COLOUR, liveCacheHeatmap } from '../src/live-cache-chart.js';
import { liveCacheText } from '../src/summaries.js';

const positions = (lists: number[][][]) => lists.map((heads) => heads.map((p) => Int32Array.from(p)));
const before = { step: 4, evictedSoFar: 10, positions: positions([[[0, 1, 2], [0, 1]], [[0, 1], [0, 1]]]) };
const after = { step: 8, evictedSoFar: 13, positions: positions([[[2, 3], [0, 1, 3]], [[0, 1, 3], [1, 3]]]) };
const frame = cacheFrame(before, after);

describe('the live cache chart', () => {
  it('draws one cell per (layer, head) and outlines only the heads that lost entries since the previous frame', () => {
    const svg = liveCacheHeatmap(frame, 24, 'held');
    expect(svg.match(/class="cell( evicted)?"/g)).toHaveLength(4);
    expect(svg.match(/class="cell evicted"[^>]*stroke="#c2410c"/g)).toHaveLength(2);
    expect(EVICTED_COLOUR).toBe('#c2410c');
    expect(svg).toContain('<title>layer 0, head 0: 2 entries, 2 evicted since the previous frame</title>');
    expect(svg).toContain('<title>layer 0, head 1: 3 entries</title>');
    expect(svg).toContain('aria-label="held, step 8: 10 entries held, 13 evicted so far, 3 since the previous frame"');
    // per layer: entries per head, and what the layer lost
    expect([...svg.matchAll(/class="lost"[^>]*>([^<]+)</g)].map((m) => m[1])).toEqual(['−2', '−1']);
  });

  it('shades on a scale fixed by the limit, so the same count looks the same in every frame', () => {
    // the lightness of the first cell, layer 0 head 0, which holds 2 entries in both frames
    const shade = (svg: string) => /class="cell[^"]*"[^>]*fill="hsl\(215 70% (\d+)%\)"/.exec(svg)![1];
    const first = cacheFrame(null, { step: 0, evictedSoFar: 0, positions: positions([[[0, 1], [0]]]) });
    const later = cacheFrame(null, { step: 4, evictedSoFar: 0, positions: positions([[[0, 1], [0, 1, 2, 3, 4, 5, 6, 7]]]) });
    expect(shade(liveCacheHeatmap(first, 16, 't'))).toBe(shade(liveCacheHeatmap(later, 16, 't')));
    expect(shade(liveCacheHeatmap(first, 32, 't'))).not.toBe(shade(liveCacheHeatmap(first, 16, 't')));
  });

  it('sums the frame up in words: step, entries held against the limit, what eviction took', () => {
    expect(liveCacheText(frame, 24, 64)).toBe(
      'Step 8 of 64: 10 entries held, at most 2.5 per head in any layer (limit 24). Evicted by the cache limit so far: 13 (3 since the previous frame).',
    );
    expect(liveCacheText(cacheFrame(null, after), 24, 64)).toMatch(/so far: 13\.$/);
  });
});
