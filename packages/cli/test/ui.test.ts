import { describe, expect, it } from 'vitest';
import { svgHeatmap, terminalHeatmap } from '../src/ui/heatmap.js';
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
