import { describe, expect, it } from 'vitest';
import { budgetHeatmap, concentrationCurves, layerColour, massBars } from '../src/charts.js';

describe('charts', () => {
  it('draws one cell per (layer, head), labelled, with the range in the accessible name', () => {
    const svg = budgetHeatmap([[1, 2, 3], [4, 5, 6]], 'kept <per> head');
    expect(svg.match(/class="cell"/g)).toHaveLength(6);
    expect(svg).toContain('aria-label="kept &lt;per&gt; head: from 1 to 6 entries per head"');
    expect(svg).toContain('layer 1, head 2: 6 entries');
  });

  it('keeps one cell per head for models with many heads, labelling only every fourth row and column', () => {
    const budgets = Array.from({ length: 32 }, () => Array.from({ length: 32 }, (_, h) => h));
    const svg = budgetHeatmap(budgets, 't');
    expect(svg.match(/class="cell"/g)).toHaveLength(32 * 32);
    expect(svg.match(/>layer \d+</g)).toHaveLength(8);
  });

  it('draws one curve per head from the origin, coloured by layer, and names the spread of the heads', () => {
    const svg = concentrationCurves(
      [
        { layer: 0, head: 0, massAt: [0.5, 1], fractionFor90: 1 },
        { layer: 1, head: 0, massAt: [0.95, 1], fractionFor90: 0.5 },
      ],
      't',
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain(`aria-label="t: 90% of a head's attention lies in 50% to 100% of its cache"`);
    expect(svg).toContain(`stroke="${layerColour(1, 2)}"`);
    expect(svg).toMatch(/points="40\.0,208\.0 /); // starts at (0 share, 0 mass)
  });

  it('orders layer colours from blue to orange', () => {
    expect(layerColour(0, 6)).toBe('hsl(225 75% 32%)');
    expect(layerColour(5, 6)).toBe('hsl(30 75% 46%)');
    expect(layerColour(0, 1)).toBe(layerColour(0, 6));
  });

  it('draws paired bars per layer with the gain of Ada-KV over the uniform split', () => {
    const bars = massBars([0.5, 0.6], [0.7, 0.55], 't');
    expect(bars.match(/class="bar uniform"/g)).toHaveLength(2);
    expect(bars.match(/class="bar adaptive"/g)).toHaveLength(2);
    expect(bars.match(/class="gain"[^>]*>([^<]+)</g)?.map((g) => g.replace(/.*>|<$/g, ''))).toEqual(['+0.20', '−0.05']);
    expect(bars).toContain('on average 0.625 with Ada-KV, 0.550 with the uniform split');
  });
});
