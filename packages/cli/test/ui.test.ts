import { describe, expect, it } from 'vitest';
import { svgHeatmap, terminalHeatmap } from '../src/ui/heatmap.js';
import { LiveCacheView } from '../src/ui/live-cache.js';
import { ProgressBar } from '../src/ui/progress.js';
import fc from 'fast-check';
import { lineChartSvg, niceTicks } from '../src/ui/svg-chart.js';
import { formatTable } from '../src/ui/table.js';

describe('formatTable', () => {
  it('aligns text left and numbers right under a rule', () => {
    const text = formatTable(['method', 'KL'], [['snapkv', '0.25'], ['ada-snapkv', '0.2']]);
    expect(text.split('\n')).toEqual(['method        KL', '----------  ----', 'snapkv      0.25', 'ada-snapkv   0.2']);
  });
});

describe('ProgressBar', () => {
  it('prints at most one line per 10% when not on a terminal', () => {
    const lines: string[] = [];
    const bar = new ProgressBar('eval', { write: (t: string) => lines.push(t), isTTY: false });
    for (let i = 0; i <= 100; i++) bar.update(i, 100);
    bar.done('finished');
    expect(lines).toHaveLength(12);
    expect(lines.at(-1)).toBe('finished\n');
  });
  it('redraws in place on a terminal', () => {
    const out: string[] = [];
    const bar = new ProgressBar('pull', { write: (t: string) => out.push(t), isTTY: true, columns: 80 });
    bar.update(1, 2, '1/2 MB');
    expect(out[0]).toMatch(/^\rpull .* 50% 1\/2 MB/);
  });
});

describe('lineChartSvg', () => {
  it('draws one polyline and one legend entry per series', () => {
    const svg = lineChartSvg(
      [
        { name: 'snapkv', points: [{ x: 32, y: 0.3 }, { x: 64, y: 0.13 }] },
        { name: 'ada-snapkv', points: [{ x: 32, y: 0.23 }, { x: 64, y: 0.08 }] },
      ],
      { title: 'KL vs budget', xLabel: 'tokens per head', yLabel: 'mean KL' },
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('>ada-snapkv</text>');
    expect(svg.startsWith('<svg')).toBe(true);
  });
});

describe('niceTicks', () => {
  it('counts from 0 in round steps', () => {
    expect(niceTicks(0.453)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });

  it('always covers the maximum with 2 to 11 evenly spaced ticks', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (max) => {
        const ticks = niceTicks(max);
        expect(ticks[0]).toBe(0);
        expect(ticks.at(-1)!).toBeGreaterThanOrEqual(max * (1 - 1e-9));
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(11);
        const step = ticks[1]!;
        ticks.forEach((t, i) => expect(t).toBeCloseTo(i * step, 9));
        expect(ticks.at(-2)!).toBeLessThan(max); // no empty band above the data
      }),
    );
  });
});

describe('heatmaps', () => {
  const grid = { values: [[1, 2, 3], [4, 5, 6]], rowLabel: (r: number) => `L${r}`, columnLabel: (c: number) => `H${c}` };
  it('render one SVG cell per (row, column)', () => {
    expect(svgHeatmap(grid, 'budgets').match(/class="cell"/g)).toHaveLength(6);
  });
  it('print every value in the terminal, with or without colour', () => {
    for (const color of [true, false]) {
      const text = terminalHeatmap(grid, { color });
      expect(text.split('\n')).toHaveLength(4);
      expect(text).toMatch(/L1 .*6/);
    }
  });
});

describe('LiveCacheView', () => {
  it('draws a row per layer with what eviction took since the last frame, redrawn in place on a terminal', () => {
    const out: string[] = [];
    const view = new LiveCacheView({ write: (t: string) => out.push(t), isTTY: true, columns: 80 });
    view.update({ lengths: [[4, 2], [3, 3]], position: 4, evicted: 0, text: 'Once upon' });
    view.update({ lengths: [[5, 3], [2, 2]], position: 5, evicted: 4 }); // layer 1: 6 + 2 added - 4 held = 4 evicted
    expect(out[0]!.split('\n')[1]).toMatch(/layer 0 █▅ +6\x1b\[K$/);
    expect(out[0]).toMatch(/… Once upon/);
    expect(out[1]).toMatch(/^\x1b\[4A/); // back over the previous frame's four lines
    expect(out[1]!.split('\n')[2]).toMatch(/layer 1 ▄▄ +4  -4\x1b\[K$/);
    expect(out[1]!.split('\n')[1]).not.toMatch(/-/);
  });

  it('prints every n-th frame and the last one when not on a terminal', () => {
    const out: string[] = [];
    const view = new LiveCacheView({ write: (t: string) => out.push(t), isTTY: false }, 4);
    for (let step = 0; step < 10; step++) view.update({ lengths: [[step + 1]], position: step + 1, evicted: 0 });
    view.finish({ lengths: [[10]], position: 10, evicted: 0 });
    expect(out.map((frame) => /position (\d+)/.exec(frame)![1])).toEqual(['1', '5', '9', '10']);
  });
});
